import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onTestFinished } from 'vitest';

/**
 * A path whose file, once written, makes `RefusingHandler`'s module throw at load in every worker
 * started from then on (content `odd`: in worker threads with an odd `threadId` only). Set for
 * this test process through `SOCKETSERVER_TEST_REFUSE_LOAD`; both are gone when the test finishes.
 */
export function refuseLoadMarker(): string {
  const marker = join(mkdtempSync(join(tmpdir(), 'refuse-load-')), 'refuse');
  process.env['SOCKETSERVER_TEST_REFUSE_LOAD'] = marker;
  onTestFinished(() => {
    delete process.env['SOCKETSERVER_TEST_REFUSE_LOAD'];
    rmSync(dirname(marker), { recursive: true, force: true });
  });
  return marker;
}

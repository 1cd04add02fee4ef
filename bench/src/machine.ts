// What the results record about the machine and the tools: the numbers mean little without it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  readonly hostname: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly totalMemoryBytes: number;
  readonly platform: string;
  /** 1, 5 and 15 minute load averages. */
  readonly loadAverageStart: readonly number[];
  loadAverageEnd: readonly number[];
}

export function machineInfo(): MachineInfo {
  const loadAverage = os.loadavg().map((value) => Math.round(value * 100) / 100);
  return {
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuCount: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageStart: loadAverage,
    loadAverageEnd: loadAverage,
  };
}

export const loadAverageNow = (): number[] => os.loadavg().map((value) => Math.round(value * 100) / 100);

/** The real python3 executable (not a version manager's shim, whose start-up would add to every run). */
export function findPython(): { executable: string; version: string } | { unavailable: string } {
  try {
    const script = 'import sys, platform; print(sys.executable); print(platform.python_version())';
    const output = execFileSync('python3', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
    const [executable = 'python3', version = '?'] = output.trim().split('\n');
    return { executable, version: `Python ${version}` };
  } catch (error) {
    return { unavailable: `python3 did not run (${(error as Error).message.split('\n')[0] ?? ''})` };
  }
}

/** Compiles `source` (relative to bench/src/) with gcc -O2 into a temporary directory; why not, when it cannot. */
function buildC(source: string, name: string): { path: string; compiler: string } | { unavailable: string } {
  const sourcePath = fileURLToPath(new URL(source, import.meta.url));
  try {
    const compiler =
      execFileSync('gcc', ['--version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0] ?? 'gcc';
    const binary = path.join(mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`)), name);
    execFileSync('gcc', ['-O2', '-o', binary, sourcePath], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: 'pipe',
    });
    return { path: binary, compiler };
  } catch (error) {
    return {
      unavailable: `gcc could not build ${source.replace(/^\.\.\//, '')} (${(error as Error).message.split('\n')[0] ?? ''})`,
    };
  }
}

/** Compiles baselines/c-echo.c into a temporary directory; why not, when it cannot. */
export const buildCEcho = (): { path: string; compiler: string } | { unavailable: string } =>
  buildC('../baselines/c-echo.c', 'c-echo');

/** Compiles load-native/load-generator.c (the native load generator) into a temporary directory. */
export const buildNativeLoadGenerator = (): { path: string; compiler: string } | { unavailable: string } =>
  buildC('../load-native/load-generator.c', 'load-generator');

/**
 * A throwaway certificate for the TLS rows: ECDSA P-256, self-signed for 127.0.0.1 and localhost,
 * valid one day, made with openssl in a temporary directory (removed by the caller); why not,
 * when it cannot be made.
 */
export function makeTLSCertificate():
  { certPath: string; keyPath: string; certPem: string; openssl: string } | { unavailable: string } {
  try {
    const openssl = execFileSync('openssl', ['version'], { encoding: 'utf8', timeout: 10_000 }).trim();
    const directory = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
    const certPath = path.join(directory, 'cert.pem');
    const keyPath = path.join(directory, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ],
      { encoding: 'utf8', timeout: 30_000, stdio: 'pipe' },
    );
    return { certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), openssl };
  } catch (error) {
    return {
      unavailable: `openssl could not make a certificate (${(error as Error).message.split('\n')[0] ?? ''})`,
    };
  }
}

/** The soft fd limit a child gets through `ulimit -n wanted` (or the hard limit, if lower). */
export function fdLimitFor(wanted: number): number {
  const script = `ulimit -n ${wanted} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n`;
  const output = execFileSync('sh', ['-c', script], { encoding: 'utf8' }).trim();
  return output === 'unlimited' ? wanted : Number(output);
}

#!/usr/bin/env node
// Thin shim: check the runtime, run repl-client, exit with its code. An expected failure was
// already printed as one line by main(); anything thrown here is a bug in repl-client.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 20)) {
  process.stderr.write(`repl-client: needs Node.js >= 24.20.0; this is ${process.version}\n`);
  process.exit(1);
}
try {
  const { main } = await import('../dist/main.js');
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(`repl-client: internal error, please report it:\n${error?.stack ?? error}\n`);
  process.exit(70);
}

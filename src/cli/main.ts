#!/usr/bin/env node
/** The `webhooks-sidecar` operator CLI (package.json "bin"); see run.ts and README.md. */
import { cliEnvironment } from '../config/cli';
import { run } from './run';

const stop = new AbortController();
// Ctrl-C ends a running `deliveries tail` cleanly; a second one exits at once.
process.once('SIGINT', () => {
  stop.abort();
  process.once('SIGINT', () => process.exit(130));
});

run(process.argv.slice(2), {
  env: cliEnvironment(),
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: touching process.stdin opens it, which only `events publish -` needs.
  get stdin() {
    return process.stdin;
  },
  signal: stop.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`webhooks-sidecar: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);

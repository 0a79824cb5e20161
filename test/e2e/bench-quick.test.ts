/**
 * `npm run bench -- --quick` runs here so that the benchmark code never rots, and so does a short
 * run of bench/compare-store.ts. They assert that every scenario ran and produced figures, never
 * how fast they are: timings belong to the bench.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { MYSQL_URL } from '../support/databases';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('npm run bench -- --quick', function () {
  this.timeout(600_000);

  before(function () {
    // The bench measures MariaDB-backed sidecars; without a MySQL URL there is nothing to run.
    if (!MYSQL_URL) this.skip();
  });

  it('runs every scenario and writes a figure, with its same-run baseline, for each', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-')), 'results.json');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [path.join(ROOT, 'dist', 'bench', 'run.js'), '--quick', '--out', out], { cwd: ROOT, env: { ...process.env, WEBHOOKS_TEST_MYSQL_URL: MYSQL_URL }, maxBuffer: 16 * 2 ** 20 }, (err, so, se) =>
        err ? reject(new Error(`bench failed: ${err.message}\n${se}`)) : resolve(so),
      ),
    );
    const results = JSON.parse(fs.readFileSync(out, 'utf8')) as { quick: boolean; rows: Array<{ scenario: string; metric: string; value: number; baseline?: { value: number } }> };
    expect(results.quick).to.equal(true);
    const scenarios = new Set(results.rows.map((r) => r.scenario));
    expect([...scenarios]).to.have.members(['ingest', 'delivery', 'isolation', 'backlog', 'layout']);
    for (const row of results.rows) {
      expect(Number.isFinite(row.value), `${row.scenario}: ${row.metric} = ${row.value}`).to.equal(true);
      if (row.baseline) expect(row.baseline.value, `${row.metric} baseline`).to.be.greaterThan(0);
    }
    const withBaseline = results.rows.filter((r) => r.baseline).map((r) => r.scenario);
    expect([...new Set(withBaseline)]).to.include.members(['ingest', 'delivery', 'isolation', 'layout']);
    expect(stdout).to.match(/\| scenario \| metric \| value \| baseline \(same run\) \| ratio \|/);
  });

  it('compares storeEvents of two builds (here this one with itself) and prints the three ratios', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [path.join(ROOT, 'dist', 'bench', 'compare-store.js'), '--base', path.join(ROOT, 'dist', 'src'), '--block', '20', '--rounds', '3'],
        { cwd: ROOT, env: { ...process.env, WEBHOOKS_TEST_MYSQL_URL: MYSQL_URL } },
        (err, so, se) => (err ? reject(new Error(`compare-store failed: ${err.message}\n${se}`)) : resolve(so)),
      ),
    );
    for (const figure of ['client CPU per event', 'MariaDB CPU per event', 'rate']) {
      expect(stdout).to.match(new RegExp(`${figure}: base \\d+ .*, this \\d+ .*, ratio \\d+\\.\\d\\d`));
    }
  });
});

import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { overallHealth } from '../../src/engine/health.ts';
import { DEFAULT_RULES, RulesFileError, loadRulesFile, parseRules, rulesFromConfig } from '../../src/engine/rules.config.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'meshmon-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('rules file', () => {
  test('the defaults are spec/rules.md’s numbers', () => {
    expect(DEFAULT_RULES.lifecycle).toMatchObject({ close_after_min: 15, stale_close_after_min: 60 });
    expect(DEFAULT_RULES.rf_drop).toMatchObject({ recent_min: 10, baseline_min: 60, lq_below: 0.7, babel_etx_rise: 0.5, critical_etx_ratio: 2, critical_lq_below: 0.4 });
    expect(DEFAULT_RULES.jitter_burst).toMatchObject({ jitter_ms: 30, consecutive: 3, critical_factor: 2 });
    expect(DEFAULT_RULES.loss_spike).toMatchObject({ loss_pct: 2, consecutive: 2, mean_loss_pct: 1, mean_window_min: 10, critical_loss_pct: 20 });
    expect(DEFAULT_RULES.route_flap).toMatchObject({ distinct_routes: 3, window_min: 5, major_at: 5 });
    expect(DEFAULT_RULES.bottleneck).toMatchObject({ bad_windows: 5, distinct_routes: 2, window_min: 30, critical_routes: 3 });
    expect(DEFAULT_RULES.node_overload).toMatchObject({ cpu_pct: 80, probe_interval_s: 40 });
    expect(DEFAULT_RULES.agent_silent).toMatchObject({ interval_factor: 3, min_silence_min: 5, major_after_min: 30 });
    expect(Object.isFrozen(DEFAULT_RULES.jitter_burst)).toBe(true);
  });

  test('docs/rules.example.json lists every default', async () => {
    const example = await Bun.file(path.resolve(import.meta.dir, '../../docs/rules.example.json')).json();
    expect(example).toEqual(JSON.parse(JSON.stringify(DEFAULT_RULES)));
  });

  test('a partial file overrides only what it names', () => {
    const rules = loadRulesFile(file('partial.json', JSON.stringify({ jitter_burst: { jitter_ms: 50 }, lifecycle: { close_after_min: 5 } })));
    expect(rules.jitter_burst).toEqual({ ...DEFAULT_RULES.jitter_burst, jitter_ms: 50 });
    expect(rules.lifecycle.close_after_min).toBe(5);
    expect(rules.loss_spike).toEqual(DEFAULT_RULES.loss_spike);
  });

  test('an unknown key is an error naming the file and the key', () => {
    const p = file('typo.json', JSON.stringify({ jitter_burst: { jiter_ms: 50 } }));
    expect(() => loadRulesFile(p)).toThrow(RulesFileError);
    expect(() => loadRulesFile(p)).toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s\\S]*jitter_burst\\.jiter_ms`));
    expect(() => loadRulesFile(file('typo2.json', JSON.stringify({ jiter_burst: {} })))).toThrow(/jiter_burst/);
  });

  test('a bad value names its key', () => {
    expect(() => loadRulesFile(file('bad.json', JSON.stringify({ rf_drop: { lq_below: 1.5 } })))).toThrow(/rf_drop\.lq_below/);
    expect(() => loadRulesFile(file('neg.json', JSON.stringify({ loss_spike: { consecutive: 0 } })))).toThrow(/loss_spike\.consecutive/);
  });

  test('unreadable or not JSON: the error names the file', () => {
    expect(() => loadRulesFile(path.join(dir, 'missing.json'))).toThrow(/missing\.json[\s\S]*cannot read/);
    expect(() => loadRulesFile(file('broken.json', '{ "jitter_burst": '))).toThrow(/broken\.json[\s\S]*not valid JSON/);
  });

  test('RULES_FILE unset: the defaults', () => {
    expect(rulesFromConfig({})).toBe(DEFAULT_RULES);
    expect(parseRules({})).toEqual(DEFAULT_RULES);
  });
});

describe('overall health', () => {
  test('green when nothing is open, yellow with minor/major only, red with any critical', () => {
    expect(overallHealth([])).toBe('green');
    expect(overallHealth(['minor', 'major'])).toBe('yellow');
    expect(overallHealth(['minor', 'critical', 'major'])).toBe('red');
  });
});

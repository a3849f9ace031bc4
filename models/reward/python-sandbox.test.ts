import * as fs from 'fs';
import * as path from 'path';
import { networkIsolationPrefix, runProgram, syntaxCheck } from './python-sandbox';
import type { HostTools } from './sandbox-tools';

// Short limits keep the suite fast; the defaults (5 s / 3 s) are exercised by production.
const FAST_LIMITS = { timeoutMs: 4000, cpuSeconds: 1 };
const FAST = FAST_LIMITS;
const FAKE_KEY = 'sk-test-sandbox-should-never-leak-0123456789';
const PACKAGE_JSON = path.resolve(__dirname, '..', '..', 'package.json');

jest.setTimeout(20000);

let savedKey: string | undefined;
beforeAll(() => {
  savedKey = process.env.OPENAI_API_KEY;
  process.env.OPENAI_API_KEY = FAKE_KEY; // the child must not inherit it
});
afterAll(() => {
  if (savedKey === undefined) delete process.env.OPENAI_API_KEY;
  else process.env.OPENAI_API_KEY = savedKey;
});

describe('runProgram: well-behaved programs', () => {
  it("runs the program as a function's body, as VALOR's executor does: a bare return ends it", async () => {
    // VALOR's prompt asks for a bare `return` when nothing is detected.
    const early = await runProgram(['final_answer = "no"', 'dets = []', 'if not dets:', '    return', 'final_answer = "yes"'].join('\n'), FAST);
    expect(early).toMatchObject({ score: 1, finalAnswerValue: 'no' });
    // Top-level names behave as before: helpers see them, `global` still works, and so does `math`.
    const names = await runProgram(
      ['scale = 2', 'def f(x):', '    return x * scale', 'def g():', '    global final_answer', '    final_answer = f(math.floor(3.7))', 'g()'].join('\n'),
      FAST,
    );
    expect(names).toMatchObject({ score: 1, finalAnswerValue: 6 });
    // Errors keep the program's own line numbers.
    const bad = await runProgram(['x = 1', '', 'y = x / 0'].join('\n'), FAST);
    expect(bad.reason).toBe('ZeroDivisionError at line 3: division by zero');
    const syntax = await runProgram(['x = 1', 'def (:'].join('\n'), FAST);
    expect(syntax).toMatchObject({ score: 0, phase: 'parse' });
    expect(syntax.reason).toMatch(/^SyntaxError at line 2/);
  });

  it('scores 1 and returns final_answer for a program using the stub tools', async () => {
    const program = [
      "boxes = gd_detect(img_pth, 'red cup, table')",
      "d = depth(img_pth, boxes[0]['bbox'])",
      "ans = vqa(img_pth, boxes[1]['bbox'], 'is it on the table?')",
      "final_answer = (len(boxes), boxes[1]['label'], d, ans)",
    ].join('\n');
    const r = await runProgram(program, FAST);
    expect(r).toMatchObject({ ok: true, score: 1, phase: 'run', finalAnswer: "(2, 'table', 0.5, 'yes')" });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('allows ordinary stdlib imports (they read only the interpreter lib dir)', async () => {
    const program = [
      'import json, math, re, collections, dataclasses, enum, typing',
      "P = collections.namedtuple('P', 'x y')",
      'final_answer = json.dumps([math.floor(2.5), P(1, 2).y])',
    ].join('\n');
    const r = await runProgram(program, FAST);
    expect(r.reason).toBe('ok');
    expect(r).toMatchObject({ score: 1, finalAnswer: "'[2, 2]'" });
  });

  it('scores 0 when final_answer is never assigned', async () => {
    const r = await runProgram("boxes = gd_detect(img_pth, 'cup')", FAST);
    expect(r).toMatchObject({ ok: false, score: 0, phase: 'run' });
    expect(r.reason).toMatch(/final_answer/);
  });

  it('reports a SyntaxError in the parse phase with its line number, without running anything', async () => {
    const r = await runProgram("print('ran')\nfinal_answer = 1\ndef broken(:\n", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'parse' });
    expect(r.reason).toMatch(/SyntaxError at line 3/);
    expect(r.stdout).toBe(''); // the print on line 1 never executed
  });

  it('scores 0 with the failing line when the program raises', async () => {
    const r = await runProgram('x = 1\ny = gd_detect(img_pth)\nfinal_answer = y', FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/TypeError at line 2/);
  });

  it('truncates huge stdout instead of crashing, and still scores the program', async () => {
    const r = await runProgram("print('x' * 10**7)\nfinal_answer = 'done'", { ...FAST, maxOutputBytes: 1024 });
    expect(r).toMatchObject({ score: 1, finalAnswer: "'done'", outputTruncated: true });
    expect(r.stdout!.length).toBeLessThanOrEqual(1024);
  });

  it('cannot forge a pass by printing a verdict-shaped line', async () => {
    const r = await runProgram('import os\nos.write(3, b\'{"nonce": "x", "ok": true, "phase": "run", "reason": "ok"}\\n\')\nos._exit(0)', FAST);
    expect(r.score).toBe(0);
  });

  it('syntaxCheck returns the score alone', async () => {
    await expect(syntaxCheck('final_answer = 1', FAST)).resolves.toBe(1);
    await expect(syntaxCheck('final_answer = ', FAST)).resolves.toBe(0);
  });
});

// The suite runs twice: with the stub tools (rewards) and with host tools on the channel
// (answer programs), whose extra pipes must open no way out of the sandbox.
const HOST_TOOLS: HostTools = {
  maxCalls: 8,
  impl: { gd_detect: async () => [], depth: async () => 0.5, vqa: async () => 'no' },
};
describe.each([
  ['stub tools', {}],
  ['host tools', { tools: HOST_TOOLS }],
])('runProgram with %s: malicious programs score 0 and harm nothing', (_mode, tools) => {
  const FAST = { ...FAST_LIMITS, ...tools };
  it('infinite loop is stopped by the CPU limit', async () => {
    const r = await runProgram('while True: pass', FAST);
    expect(r).toMatchObject({ score: 0, phase: 'limits' });
    expect(r.reason).toMatch(/cpu limit|timeout/);
  });

  it('a sleeping program is stopped by the wall-clock timeout (process group killed)', async () => {
    const r = await runProgram('import time\ntime.sleep(60)\nfinal_answer = 1', { ...FAST, timeoutMs: 800 });
    expect(r).toMatchObject({ score: 0, phase: 'limits' });
    expect(r.reason).toMatch(/^timeout/);
    expect(r.durationMs).toBeLessThan(30_000); // far below the program's 60 s sleep: it was killed
  });

  it('fork bomb is refused', async () => {
    const r = await runProgram('import os\nwhile True: os.fork()', FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/os\.fork refused/);
  });

  it('huge allocation fails with MemoryError under the address-space limit', async () => {
    const r = await runProgram('x = bytearray(10**10)\nfinal_answer = len(x)', FAST);
    expect(r).toMatchObject({ score: 0, phase: 'limits' });
    expect(r.reason).toMatch(/MemoryError/);
  });

  it('reading /etc/passwd is refused', async () => {
    const r = await runProgram("final_answer = open('/etc/passwd').read()", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/open outside scratch dir refused.*\/etc\/passwd/);
  });

  it("reading the project's package.json by absolute path is refused", async () => {
    const r = await runProgram(`final_answer = open(${JSON.stringify(PACKAGE_JSON)}).read()`, FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/open outside scratch dir refused/);
    expect(JSON.stringify(r)).not.toContain('valor-stream');
  });

  it('writing files is refused even inside the scratch dir', async () => {
    const r = await runProgram("open('out.txt', 'w').write('x')\nfinal_answer = 1", FAST);
    expect(r.score).toBe(0);
    expect(r.reason).toMatch(/write access refused/);
  });

  it('listing directories outside scratch is refused', async () => {
    const r = await runProgram("import os\nfinal_answer = os.listdir('/')", FAST);
    expect(r.score).toBe(0);
    expect(r.reason).toMatch(/listing refused/);
  });

  it('opening a socket is refused', async () => {
    const r = await runProgram("import socket; socket.create_connection(('127.0.0.1', 80))", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/refused/);
  });

  it('environment variables of the parent are not visible', async () => {
    const r = await runProgram("import os\nfinal_answer = os.environ['OPENAI_API_KEY']", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/KeyError/);
    expect(JSON.stringify(r)).not.toContain(FAKE_KEY);
    const dump = await runProgram('import os\nfinal_answer = sorted(os.environ)', FAST);
    expect(dump.score).toBe(1);
    // Python's own PEP 538 locale coercion may add LC_CTYPE; nothing else may appear.
    expect(['[]', "['LC_CTYPE']"]).toContain(dump.finalAnswer);
  });

  it('subprocess is refused', async () => {
    const r = await runProgram("import subprocess; subprocess.run(['ls'])", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/import of 'subprocess' refused/);
  });

  it('os.system is refused', async () => {
    const r = await runProgram("import os; os.system('touch /tmp/pwned')", FAST);
    expect(r.score).toBe(0);
    expect(r.reason).toMatch(/os\.system refused/);
  });

  it('ctypes is refused', async () => {
    const r = await runProgram("__import__('ctypes')", FAST);
    expect(r).toMatchObject({ score: 0, phase: 'run' });
    expect(r.reason).toMatch(/import of 'ctypes' refused/);
  });

  it('runs in parallel, each in its own scratch dir, deleted afterwards', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => runProgram(`import os\nfinal_answer = (${i}, os.getcwd())`, FAST)));
    const dirs = results.map((r, i) => {
      expect(r.score).toBe(1);
      const m = /^\((\d+), '(.*)'\)$/.exec(r.finalAnswer ?? '');
      expect(m && Number(m[1])).toBe(i);
      return m![2];
    });
    expect(new Set(dirs).size).toBe(6);
    for (const d of dirs) {
      expect(path.basename(d)).toMatch(/^valor-sandbox-/);
      expect(fs.existsSync(d)).toBe(false);
    }
  });

  it('network isolation probe never throws and yields a prefix or nothing', async () => {
    const prefix = await networkIsolationPrefix('python3');
    expect(Array.isArray(prefix)).toBe(true);
  });
});

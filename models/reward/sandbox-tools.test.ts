// Answer programs calling real tools served by the host over the sandbox's pipe: results in
// the method's shapes reach the program, every call is recorded, bad arguments and tool
// crashes come back as ToolError, a program that loops on tools is stopped by its budget,
// and the sandbox keeps its walls (no environment, no network, no files outside scratch).
import { runProgram } from './python-sandbox';
import type { HostTools } from './sandbox-tools';

jest.setTimeout(60_000);

const tools = (maxCalls = 20, over: Partial<HostTools['impl']> = {}): HostTools => ({
  maxCalls,
  impl: {
    gd_detect: async (phrases) =>
      phrases
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
        .map((label, i) => ({ bbox: [10 + 100 * i, 20, 60 + 100 * i, 80], label })),
    depth: async (b) => (b[0]! + b[2]!) / 1000,
    vqa: async (b, prompt) => `${b ? 'box' : 'image'}: ${prompt.length}`,
    ...over,
  },
});

const run = (program: string, t = tools()) => runProgram(program, { tools: t, timeoutMs: 20_000 });

describe('sandbox with host tools', () => {
  it('serves gd_detect, depth and vqa in the method shapes and records every call', async () => {
    const r = await run(`
cups = gd_detect(img_pth, "cup, plate")
d = depth(img_pth, cups[1]["bbox"])
a = vqa(img_pth, None, "what is this?")
b = vqa(img_pth, tuple(cups[0]["bbox"]), "color?")
final_answer = {"labels": [c["label"] for c in cups], "depth": d, "a": a, "b": b}
`);
    expect(r.ok).toBe(true);
    expect(r.finalAnswerValue).toEqual({ labels: ['cup', 'plate'], depth: (110 + 160) / 1000, a: 'image: 13', b: 'box: 6' });
    expect(r.toolCalls!.map((c) => c.tool)).toEqual(['gd_detect', 'depth', 'vqa', 'vqa']);
    expect(r.toolCalls![0]!.result).toEqual([
      { bbox: [10, 20, 60, 80], label: 'cup' },
      { bbox: [110, 20, 160, 80], label: 'plate' },
    ]);
    expect(r.toolCalls![3]!.args).toEqual(['image.jpg', [10, 20, 60, 80], 'color?']);
    expect(r.toolCalls!.every((c) => c.latencyMs >= 0 && c.error === undefined)).toBe(true);
  });

  it('refuses bad arguments and reports a crashing tool as ToolError the program sees', async () => {
    const crash = tools(20, { depth: async () => Promise.reject(new Error('image cannot be decoded')) });
    const r = await run(
      `
try:
    depth(img_pth, [1, 2, 3])
except ToolError as e:
    bad = str(e)
try:
    depth(img_pth, [1, 2, 3, 4])
except ToolError as e:
    crashed = str(e)
final_answer = [bad, crashed]
`,
      crash,
    );
    expect(r.ok).toBe(true);
    const [bad, crashed] = r.finalAnswerValue as string[];
    expect(bad).toMatch(/^depth: bad arguments: 1: /);
    expect(crashed).toBe('depth: image cannot be decoded');
    expect(r.toolCalls![1]!.error).toBe('image cannot be decoded');
    // Uncaught, the crash fails the program with a reason that names it.
    const failed = await run(`final_answer = depth(img_pth, [1, 2, 3, 4])`, crash);
    expect(failed.ok).toBe(false);
    expect(failed.reason).toMatch(/ToolError at line 1: depth: image cannot be decoded/);
  });

  it('stops a program that loops on tool calls at its budget', async () => {
    const r = await run(
      `
while True:
    gd_detect(img_pth, "cup")
`,
      tools(5),
    );
    expect(r.ok).toBe(false);
    expect(r.toolBudgetExceeded).toBe(true);
    expect(r.reason).toMatch(/tool-call budget of 5 calls spent/);
    expect(r.toolCalls).toHaveLength(6);
  });

  it('a forged request on the channel is checked like any other', async () => {
    const r = await run(`
import os
os.write(4, b'{"tool": "shell", "args": ["id"]}\\n')
import json
final_answer = "sent"
`);
    // The forged line is refused (unknown tool) and recorded; nothing else happens.
    expect(r.toolCalls!.some((c) => c.tool === 'shell' && /unknown tool 'shell'/.test(c.error ?? ''))).toBe(true);
  });

  it('keeps the walls: no environment, no network, no files outside scratch', async () => {
    process.env.VS_SECRET_FOR_SANDBOX = 'sk-do-not-leak';
    try {
      const env = await run(`import os\nfinal_answer = dict(os.environ)`);
      // Python sets LC_CTYPE itself (PEP 538); nothing of the host's environment arrives.
      expect(Object.keys(env.finalAnswerValue as object).filter((k) => k !== 'LC_CTYPE')).toEqual([]);
      const net = await run(`import socket\nfinal_answer = 1`);
      expect(net.ok).toBe(false);
      expect(net.reason).toMatch(/socket/);
      const file = await run(`final_answer = open('/etc/passwd').read()`);
      expect(file.ok).toBe(false);
      expect(file.reason).toMatch(/outside scratch/);
    } finally {
      delete process.env.VS_SECRET_FOR_SANDBOX;
    }
  });
});

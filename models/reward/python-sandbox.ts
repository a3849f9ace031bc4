// Runs an UNTRUSTED rollout program against stub tools for the "syntax" reward.
// Containment is layered (see models/reward/sandbox/runner.py for the in-child layers):
//   1. real Python parser first (ast.parse in the child, before any execution);
//   2. a separate `python3 -I -S -B` process, empty env, fresh scratch cwd, stdin closed,
//      stdout/stderr capped, verdict on a nonce-tagged side channel (fd 3);
//   3. rlimits (CPU, AS, NPROC, FSIZE, NOFILE, CORE) set in the child before user code;
//   4. a PEP 578 audit hook refusing files outside scratch, writes, sockets, processes, ctypes;
//   5. `unshare -n` (empty network namespace) when it works here, detected once and cached;
//   6. a wall-clock timeout: SIGKILL to the child's whole process group.
import { z } from 'zod';
import { spawn } from 'child_process';
import { randomBytes } from 'crypto';
import { existsSync, promises as fsp, accessSync, constants as fsConstants } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Readable, Writable } from 'stream';
import { HostTools, serveTools, ToolCallRecord } from './sandbox-tools';

/** A node's sandbox limits in its config, with that node's defaults. */
export function sandboxLimitsConfig(defaults: { timeoutMs: number; cpuSeconds: number; memoryMb: number }) {
  return z
    .object({
      timeoutMs: z.number().int().min(100).default(defaults.timeoutMs),
      cpuSeconds: z.number().int().min(1).default(defaults.cpuSeconds),
      memoryMb: z.number().int().min(32).default(defaults.memoryMb),
    })
    .strict()
    .prefault({});
}

export interface SandboxOptions {
  timeoutMs?: number;
  cpuSeconds?: number;
  memoryMb?: number;
  maxOutputBytes?: number;
  python?: string;
  /** Real tools served by the host over the program's fd 4/5 (answer programs); stub tools when absent. */
  tools?: HostTools;
}

export interface SandboxResult {
  ok: boolean;
  score: 0 | 1;
  reason: string;
  phase: 'parse' | 'run' | 'limits';
  durationMs: number;
  /** repr() of final_answer, truncated; only when the program set it. */
  finalAnswer?: string;
  /** final_answer itself when it is plain data (JSON), for scoring answers. */
  finalAnswerValue?: unknown;
  /** Host tool calls in order (with `tools` only). */
  toolCalls?: ToolCallRecord[];
  /** The program asked for more tool calls than its budget. */
  toolBudgetExceeded?: boolean;
  /** Program stdout/stderr, capped at maxOutputBytes each (for debugging rollouts). */
  stdout?: string;
  stderr?: string;
  outputTruncated?: boolean;
}

const DEFAULTS = { timeoutMs: 5000, cpuSeconds: 3, memoryMb: 256, maxOutputBytes: 64 * 1024, python: 'python3' };
const RESULT_CAP = 16 * 1024; // the verdict line is small; anything bigger is garbage

// tsc does not copy .py files into dist/, so fall back to the source tree.
function runnerPath(): string {
  const candidates = [path.join(__dirname, 'sandbox', 'runner.py'), path.resolve(__dirname, '..', '..', '..', 'models', 'reward', 'sandbox', 'runner.py')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`python sandbox: runner.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

// The child gets no PATH, so resolve executables to absolute paths in the parent.
function resolveExecutable(name: string): string | undefined {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

// `python3` on PATH may be a wrapper (pyenv shim = a shell script that re-populates the
// environment), so ask the interpreter once for its real binary and spawn that directly.
const interpreterCache = new Map<string, Promise<string>>();

export function resolveInterpreter(pythonName = 'python3'): Promise<string> {
  let cached = interpreterCache.get(pythonName);
  if (!cached) {
    cached = askRealExecutable(pythonName);
    interpreterCache.set(pythonName, cached);
    cached.catch(() => interpreterCache.delete(pythonName)); // allow a retry after fixing PATH
  }
  return cached;
}

function askRealExecutable(pythonName: string): Promise<string> {
  const found = resolveExecutable(pythonName);
  if (!found) return Promise.reject(new Error(`python sandbox: interpreter '${pythonName}' not found on PATH`));
  return new Promise((resolve, reject) => {
    const probe = spawn(found, ['-I', '-S', '-c', 'import sys; print(sys.executable)'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000,
    });
    let out = '';
    probe.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    probe.on('error', (err) => reject(new Error(`python sandbox: cannot run '${found}': ${err.message}`)));
    probe.on('close', (code) => {
      const exe = out.trim();
      if (code === 0 && path.isAbsolute(exe)) resolve(exe);
      else reject(new Error(`python sandbox: '${found}' did not report sys.executable (exit ${code})`));
    });
  });
}

// Layer 5: which prefix (if any) puts the child in an empty network namespace. Plain
// `unshare -n` needs root/CAP_SYS_ADMIN; `-r` (user namespace) lets unprivileged CI try.
// Probed once per interpreter; any failure means "rely on the audit hook".
const netnsCache = new Map<string, Promise<string[]>>();

export async function networkIsolationPrefix(pythonName = 'python3'): Promise<string[]> {
  const python = await resolveInterpreter(pythonName).catch(() => undefined);
  if (!python) return [];
  let cached = netnsCache.get(python);
  if (!cached) {
    cached = probeUnshare(python);
    netnsCache.set(python, cached);
  }
  return cached;
}

async function probeUnshare(python: string): Promise<string[]> {
  const unshare = resolveExecutable('unshare');
  if (!unshare) return [];
  for (const flags of [['-n'], ['-r', '-n']]) {
    const prefix = [unshare, ...flags, '--'];
    if (await probeOk(prefix, python)) return prefix;
  }
  return [];
}

function probeOk(prefix: string[], python: string): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean) => {
      if (!done) {
        done = true;
        resolve(v);
      }
    };
    try {
      const child = spawn(prefix[0], [...prefix.slice(1), python, '-I', '-S', '-c', 'pass'], {
        env: {},
        stdio: 'ignore',
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(false);
      }, 3000);
      child.on('error', () => finish(false));
      child.on('exit', (code) => {
        clearTimeout(timer);
        finish(code === 0);
      });
    } catch {
      finish(false);
    }
  });
}

/** Accumulates a stream up to `cap` bytes and keeps draining (discarding) the rest, so a
 * flood of output neither blocks the child on a full pipe nor grows parent memory. */
class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated = this.truncated || chunk.length > 0;
      return;
    }
    if (chunk.length > room) this.truncated = true;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

interface ChildVerdict {
  ok: boolean;
  phase: 'parse' | 'run' | 'limits';
  reason: string;
  finalAnswer?: string;
  finalAnswerJson?: string;
}

function parseVerdict(raw: string, nonce: string): ChildVerdict | undefined {
  // Only a line carrying this run's nonce counts; anything else on fd 3 is ignored.
  for (const line of raw.split('\n').reverse()) {
    if (!line.trim()) continue;
    try {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.nonce !== nonce) continue;
      const phase = msg.phase === 'parse' || msg.phase === 'limits' ? msg.phase : 'run';
      return {
        ok: msg.ok === true,
        phase,
        reason: typeof msg.reason === 'string' ? msg.reason : 'sandbox: verdict without reason',
        finalAnswer: typeof msg.finalAnswer === 'string' ? msg.finalAnswer : undefined,
        finalAnswerJson: typeof msg.finalAnswerJson === 'string' ? msg.finalAnswerJson : undefined,
      };
    } catch {
      /* not JSON: ignore */
    }
  }
  return undefined;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL'); // detached => pid is the process-group id
  } catch {
    /* already gone */
  }
}

export async function runProgram(program: string, opts: SandboxOptions = {}): Promise<SandboxResult> {
  const o = { ...DEFAULTS, ...opts };
  const started = Date.now();
  const python = await resolveInterpreter(o.python);
  const runner = runnerPath();
  const prefix = await networkIsolationPrefix(o.python);

  // Layer 2: a private scratch dir per run (parallel-safe), removed afterwards.
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'valor-sandbox-'));
  const nonce = randomBytes(16).toString('hex');
  try {
    await fsp.writeFile(path.join(scratch, 'program.py'), program, 'utf8');
    await fsp.writeFile(path.join(scratch, '.nonce'), nonce, 'ascii');
    const limits = JSON.stringify({ cpuSeconds: o.cpuSeconds, memoryBytes: o.memoryMb * 1024 * 1024, ...(o.tools ? { tools: 'host' } : {}) });
    const argv = [...prefix, python, '-I', '-S', '-B', runner, limits];

    const stdout = new CappedBuffer(o.maxOutputBytes);
    const stderr = new CappedBuffer(o.maxOutputBytes);
    const verdictBuf = new CappedBuffer(RESULT_CAP);
    let timedOut = false;
    let served: ReturnType<typeof serveTools> | undefined;

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), {
        cwd: scratch,
        env: {}, // no API keys, no PYTHON* variables, no PATH
        // fd 3: the verdict; fd 4/5: tool requests and replies (with host tools).
        stdio: o.tools ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'],
        detached: true, // own process group, so the timeout can kill everything it started
      });
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
      }, o.timeoutMs);
      child.stdout!.on('data', (c: Buffer) => stdout.push(c));
      child.stderr!.on('data', (c: Buffer) => stderr.push(c));
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => verdictBuf.push(c));
      const channel = child.stdio as unknown as Array<Readable & Writable>;
      if (o.tools) served = serveTools(channel[4]!, channel[5]!, o.tools);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`python sandbox: failed to spawn ${argv[0]}: ${err.message}`));
      });
      // 'close' (not 'exit') so all piped output has been read.
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        killGroup(child.pid); // reap anything the program left behind
        resolve({ code, signal });
      });
    });

    const durationMs = Date.now() - started;
    await served?.done;
    const out = {
      ...(served ? { toolCalls: served.calls, toolBudgetExceeded: served.budgetExceeded() } : {}),
      durationMs,
      stdout: stdout.text(),
      stderr: stderr.text(),
      outputTruncated: stdout.truncated || stderr.truncated,
    };
    const fail = (phase: SandboxResult['phase'], reason: string): SandboxResult => ({
      ok: false,
      score: 0,
      phase,
      reason,
      ...out,
    });

    if (timedOut) return fail('limits', `timeout: exceeded ${o.timeoutMs} ms wall clock, process group killed`);
    if (exit.signal === 'SIGXCPU' || exit.signal === 'SIGKILL') {
      // Only our timeout sends SIGKILL on purpose; otherwise it is the RLIMIT_CPU hard limit.
      return fail('limits', `cpu limit: killed by ${exit.signal} (limit ${o.cpuSeconds}s CPU)`);
    }
    if (exit.signal === 'SIGXFSZ') return fail('limits', 'file size limit exceeded (SIGXFSZ)');
    const verdict = parseVerdict(verdictBuf.text(), nonce);
    if (!verdict) {
      const tail = out.stderr.trim().split('\n').slice(-3).join(' | ');
      const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
      return fail('run', `no verdict from sandbox (${how})${tail ? `: ${tail}` : ''}`);
    }
    if (!verdict.ok) return fail(verdict.phase, verdict.reason);
    let finalAnswerValue: unknown;
    try {
      finalAnswerValue = verdict.finalAnswerJson === undefined ? undefined : JSON.parse(verdict.finalAnswerJson);
    } catch {
      finalAnswerValue = undefined;
    }
    return { ok: true, score: 1, phase: 'run', reason: verdict.reason, finalAnswer: verdict.finalAnswer, finalAnswerValue, ...out };
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/** The "syntax" reward: 1 if the program parses, runs against stub tools without raising,
 * and assigns final_answer; else 0. */
export async function syntaxCheck(program: string, opts?: SandboxOptions): Promise<0 | 1> {
  return (await runProgram(program, opts)).score;
}

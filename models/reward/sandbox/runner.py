"""Bootstrap for the syntax-reward sandbox (spawned by models/reward/python-sandbox.ts).

Runs as `python3 -I -S -B runner.py LIMITS_JSON` with cwd = a fresh scratch dir holding
program.py and .nonce, an empty environment and stdin closed. Order matters:
read inputs -> parse (no user code runs) -> rlimits -> audit hook -> exec with stub tools.
The verdict goes to fd 3 as one JSON line carrying a per-run nonce, so a program cannot
pass by printing or os.write-ing a verdict-shaped line. The nonce does live in main()'s
frame, so a program that deliberately walks frames could find it: the nonce stops blind
forgery, not a determined in-process attacker (who still gains only the 0/1 syntax score).
"""
import ast
import json
import math
import os
import resource
import sys

RESULT_FD = 3
# Host tools (answer programs): requests go out on fd 4, replies come back on fd 5, one JSON
# line each. The host validates every request and serves only the three tools, on the
# record's own image, with a per-program call budget; the program reaches nothing else.
TOOL_REQUEST_FD = 4
TOOL_REPLY_FD = 5
MAX_REPR = 2000  # the parent only needs a short preview of final_answer

# Modules whose only use here would be escaping: native calls, networking, processes.
BLOCKED_MODULES = frozenset({
    'ctypes', '_ctypes', 'cffi', 'socket', '_socket', 'ssl', '_ssl', 'select', 'selectors',
    'subprocess', '_posixsubprocess', 'multiprocessing', '_multiprocessing', 'pty',
    'signal', 'mmap', 'fcntl', 'asyncio', 'socketserver', 'ftplib', 'smtplib', 'xmlrpc',
    'webbrowser',
})
# Audit events refused outright (prefix match): processes, signals, sockets, native code,
# filesystem mutation and raising our rlimits. Frame introspection stays allowed because
# the stdlib needs it (namedtuple, enum, typing use sys._getframe); see the nonce note below.
BLOCKED_EVENT_PREFIXES = (
    'os.fork', 'os.forkpty', 'os.system', 'os.exec', 'os.spawn', 'os.posix_spawn',
    'subprocess.', 'os.kill', 'os.killpg', 'signal.', 'socket.', 'ctypes.', 'mmap.',
    'os.remove', 'os.unlink', 'os.rename', 'os.rmdir', 'os.mkdir', 'os.chmod', 'os.chown',
    'os.link', 'os.symlink', 'os.truncate', 'os.utime', 'os.chdir', 'os.chroot',
    'os.chflags', 'os.setxattr', 'os.removexattr', 'os.putenv', 'os.unsetenv', 'shutil.',
    'resource.setrlimit', 'resource.prlimit', 'cpython.', 'webbrowser.', 'urllib.',
    'ftplib.', 'smtplib.', 'http.', 'imaplib.', 'poplib.', 'nntplib.', 'telnetlib.',
)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class SandboxViolation(PermissionError):
    pass


def make_audit_hook(read_roots):
    """PEP 578 hook. NOT a security boundary by itself (C extensions and interpreter bugs
    can bypass it); it is one layer next to the process boundary, empty env, rlimits,
    network namespace and the parent's wall-clock kill."""
    def inside(path):
        # Only exact str/bytes: a PathLike could answer differently to a second fspath().
        if type(path) is bytes:
            path = os.fsdecode(path)
        if type(path) is not str:
            return False
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r + os.sep) for r in read_roots)

    def hook(event, args):
        if event == 'open':
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if type(path) is int:
                return  # an already-open descriptor grants no new access
            writing = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            if writing:
                raise SandboxViolation(f'sandbox: write access refused: {path!r}')
            if not inside(path):
                raise SandboxViolation(f'sandbox: open outside scratch dir refused: {path!r}')
        elif event in ('os.listdir', 'os.scandir'):
            path = args[0] if args else '.'
            if path is not None and type(path) is not int and not inside(path):
                raise SandboxViolation(f'sandbox: listing refused: {path!r}')
        elif event == 'import':
            if args and str(args[0]).split('.')[0] in BLOCKED_MODULES:
                raise SandboxViolation(f'sandbox: import of {args[0]!r} refused')
        elif event.startswith(BLOCKED_EVENT_PREFIXES):
            raise SandboxViolation(f'sandbox: {event} refused')
    return hook


def set_limits(cpu_seconds, memory_bytes):
    # CPU: SIGXCPU at the soft limit, SIGKILL one second later at the hard limit.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    # Address space: huge allocations fail with MemoryError instead of swapping the host.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # No new processes/threads. Counted per uid and ignored for root (CAP_SYS_RESOURCE),
    # hence the audit hook also refuses fork/exec/spawn.
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    # No regular file may grow (pipes are unaffected): writes are refused by the hook anyway;
    # this catches a bypass (Python ignores SIGXFSZ, so the write fails with EFBIG).
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))  # imports need a few transient fds
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core dumps in the scratch dir


# ---- stub tools: fixed, deterministic answers; only the program's control flow matters ----
def gd_detect(img_pth, prompt):
    phrases = [p.strip() for p in str(prompt).split(',') if p.strip()]
    return [{'bbox': [10, 10, 50, 50], 'label': p} for p in phrases]


def depth(img_pth, bbox):
    return 0.5


def vqa(img_pth, bbox, prompt):
    return 'yes'


class ToolError(RuntimeError):
    """A host tool refused or failed (bad arguments, budget spent, a tool crash)."""


def _plain(value):
    # Tuples and other sequences of numbers become lists; anything else is sent as it is.
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_reply_buffer = bytearray()


def _read_reply():
    while b'\n' not in _reply_buffer:
        chunk = os.read(TOOL_REPLY_FD, 65536)
        if not chunk:
            raise ToolError('host tools: the host closed the channel')
        _reply_buffer.extend(chunk)
    line, _, rest = bytes(_reply_buffer).partition(b'\n')
    _reply_buffer[:] = rest
    return json.loads(line)


def host_tool(name):
    def call(*args):
        try:
            request = json.dumps({'tool': name, 'args': _plain(list(args))})
        except (TypeError, ValueError) as e:
            raise ToolError(f'{name}: arguments are not plain values: {e}')
        os.write(TOOL_REQUEST_FD, (request + '\n').encode('utf-8'))
        reply = _read_reply()
        if 'error' in reply:
            raise ToolError(f"{name}: {reply['error']}")
        return reply.get('result')
    call.__name__ = name
    return call


class StubImage:
    """Stand-in for a loaded image so `img.size` / `img.crop(...)` style code runs."""
    width, height = 640, 480
    size = (640, 480)

    def crop(self, box):
        return self


def as_function_body(tree):
    """The program as the body of a function, called once, as VALOR's executor runs it: a bare
    `return` (its prompt asks for one when nothing is detected) ends the program, and
    final_answer is read from the function's locals, captured on the way out."""
    capture = ast.Expr(ast.Call(ast.Name('__capture_locals__', ast.Load()), [ast.Call(ast.Name('locals', ast.Load()), [], [])], []))
    body = [ast.Try(body=tree.body or [ast.Pass()], handlers=[], orelse=[], finalbody=[capture])]
    no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    fn = ast.FunctionDef(name='__program__', args=no_args, body=body, decorator_list=[], returns=None)
    call = ast.Expr(ast.Call(ast.Name('__program__', ast.Load()), [], []))
    module = ast.Module(body=[fn, call], type_ignores=[])
    # The wrapper's own nodes sit on line 1; the program's keep their lines.
    for node in (capture, *ast.walk(capture), body[0], fn, call, *ast.walk(call)):
        if 'lineno' in node._attributes and not hasattr(node, 'lineno'):
            node.lineno, node.col_offset = 1, 0
            node.end_lineno, node.end_col_offset = 1, 0
    return ast.fix_missing_locations(module)


def program_line(tb):
    """The line of the innermost frame that is the program's."""
    line = '?'
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == '<program>':
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def main():
    limits = json.loads(sys.argv[1])
    with open('program.py', encoding='utf-8') as f:
        source = f.read()
    with open('.nonce', encoding='ascii') as f:
        nonce = f.read().strip()
    os.unlink('.nonce')  # the program must never be able to read it
    del sys.argv[1:]

    def report(ok, phase, reason, final_answer=None, value=None):
        msg = {'nonce': nonce, 'ok': ok, 'phase': phase, 'reason': reason}
        if final_answer is not None:
            msg['finalAnswer'] = final_answer
        if value is not None:
            msg['finalAnswerJson'] = value
        os.write(RESULT_FD, (json.dumps(msg) + '\n').encode('utf-8', 'replace'))

    # Layer 1: the real Python parser, before anything of the program executes.
    try:
        code = compile(as_function_body(ast.parse(source, '<program>')), '<program>', 'exec')
    except SyntaxError as e:
        report(False, 'parse', f'SyntaxError at line {e.lineno}: {e.msg}')
        return
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        report(False, 'parse', f'{type(e).__name__} while parsing: {e}')
        return

    set_limits(int(limits['cpuSeconds']), int(limits['memoryBytes']))
    # Reads allowed: scratch dir and the interpreter's own stdlib (imports open files).
    read_roots = [os.path.realpath(p) for p in [os.getcwd()] + sys.path if p]
    sys.addaudithook(make_audit_hook(read_roots))

    if limits.get('tools') == 'host':
        tools = {name: host_tool(name) for name in ('gd_detect', 'depth', 'vqa')}
        tools['ToolError'] = ToolError
    else:
        tools = {'gd_detect': gd_detect, 'depth': depth, 'vqa': vqa}
    # With host tools the image is the record's, named by a path the host ignores: `img` and
    # `img_pth` both pass it (the method's programs use either name).
    img = 'image.jpg' if limits.get('tools') == 'host' else StubImage()
    captured = {}
    env = {
        '__name__': '__main__',
        '__builtins__': __builtins__,
        **tools,
        'img': img,
        'img_pth': 'image.jpg',
        'math': math,  # VALOR's executor hands programs `math` (and numpy, which -S cannot import)
        '__capture_locals__': captured.update,
    }
    try:
        exec(code, env)
    except BaseException as e:  # includes SystemExit: the program must finish normally
        line = program_line(e.__traceback__)
        phase = 'limits' if isinstance(e, MemoryError) else 'run'
        detail = str(e)[:300]
        report(False, phase, f'{type(e).__name__} at line {line}: {detail}')
        return

    # A local of the program's function, or a global when the program declared it so.
    if 'final_answer' in captured:
        answer = captured['final_answer']
    elif 'final_answer' in env:
        answer = env['final_answer']
    else:
        report(False, 'run', 'program finished without assigning final_answer')
        return
    try:
        shown = repr(answer)[:MAX_REPR]
    except BaseException as e:
        report(False, 'run', f'repr(final_answer) raised {type(e).__name__}')
        return
    try:
        # The answer itself when it is plain data (str, number, bool, list): answers are scored on it.
        value = json.dumps(answer)
        if len(value) > MAX_REPR:
            value = None
    except (TypeError, ValueError, RecursionError):
        value = None
    report(True, 'run', 'ok', shown, value)


if __name__ == '__main__':
    main()

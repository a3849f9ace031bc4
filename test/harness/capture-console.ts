// Runs `f` with console.log (and console.error) captured: what a CLI command printed, as text.
export async function captureConsole(f: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const push = (...a: unknown[]) => void lines.push(a.join(' '));
  const log = jest.spyOn(console, 'log').mockImplementation(push);
  const err = jest.spyOn(console, 'error').mockImplementation(push);
  try {
    await f();
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  return lines.join('\n');
}

/** `--name=value` and bare `--name` (read as "true") arguments of the bench scripts, by name. */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}`);
    flags.set(match[1] as string, match[2] ?? 'true');
  }
  return flags;
}

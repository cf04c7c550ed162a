/**
 * `npm run -s cli -- <command> [options]`. Every command prints exactly one line of JSON on
 * stdout (logs go to stderr); bad arguments exit with code 2 and a one-line message.
 * Each command lives in its own file exporting `run(argv): Promise<number>` (the exit code).
 */
const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  tokenize: () => import("./tokenize"),
  logits: () => import("./logits"),
  generate: () => import("./generate"),
  serve: () => import("./serve"),
};

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const load = command ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`usage: cli <${Object.keys(COMMANDS).join("|")}> [options]  (unknown command: ${command ?? "none"})\n`);
    return 2;
  }
  const mod = await load();
  return mod.run(rest);
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

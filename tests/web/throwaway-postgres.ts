/**
 * A Postgres cluster of a test's own (initdb in a temp folder, a free port, trust auth), so the
 * test may stop and start it: the shared server at DATABASE_URL is never stopped. As root, the
 * server runs as the `postgres` user (Postgres refuses root). null from `findPgBin` when no
 * Postgres binaries are installed (the test says so and skips).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../e2e/browser";

/** The folder with initdb and pg_ctl: PG_BIN, else the newest /usr/lib/postgresql/N/bin, else PATH's. */
export function findPgBin(): string | null {
  const candidates = [process.env.PG_BIN ?? ""];
  try {
    const versions = fs.readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // not a Debian layout
  }
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" }).stdout.trim();
  if (which) candidates.push(path.dirname(fs.realpathSync(which)));
  return candidates.find((dir) => dir && fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"))) ?? null;
}

export class ThrowawayPostgres {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "test-pg-"));
  private constructor(
    readonly bin: string,
    readonly port: number,
  ) {}

  /** initdb + start on a free port */
  static async create(bin: string): Promise<ThrowawayPostgres> {
    const pg = new ThrowawayPostgres(bin, await freePort());
    if (process.getuid?.() === 0) spawnSync("chown", ["postgres", pg.dir]);
    pg.run("initdb", ["-D", path.join(pg.dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
    pg.start();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(bin: string, args: string[]): void {
    const asRoot = process.getuid?.() === 0;
    const exe = path.join(this.bin, bin);
    const r = spawnSync(asRoot ? "runuser" : exe, asRoot ? ["-u", "postgres", "--", exe, ...args] : args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
  }

  start(): void {
    const opts = ["-o", `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`];
    this.run("pg_ctl", ["-D", path.join(this.dir, "data"), "-l", path.join(this.dir, "log"), ...opts, "-w", "start"]);
  }

  /** `fast`: sessions are ended (57P01 admin_shutdown), as an operator's restart does */
  stop(mode: "fast" | "immediate" = "fast"): void {
    this.run("pg_ctl", ["-D", path.join(this.dir, "data"), "-m", mode, "-w", "stop"]);
  }

  /** stops it (if running) and removes its folder */
  destroy(): void {
    try {
      this.stop("immediate");
    } catch {
      // already stopped
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

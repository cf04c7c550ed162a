/** The web server's database, for server code only (see ./db-handle). */
import "server-only";

export { getServerDb } from "./db-handle";

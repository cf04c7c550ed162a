/**
 * Who may do what (no accounts): secrets the web server keeps in the database, so that every web
 * server on one Postgres signs and checks owner cookies with the same key.
 */
import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const serverSecrets = pgTable("server_secrets", {
  /** e.g. `owner_cookie_hmac` */
  name: text("name").primaryKey(),
  /** random bytes, base64url */
  value: text("value").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

import { defineConfig } from "drizzle-kit";

// `npm run db:generate` writes SQL migrations from the TypeScript schema (the source of truth).
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./db/migrations",
});

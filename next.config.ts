import type { NextConfig } from "next";

const config: NextConfig = {
  // PGlite (WASM + data files), postgres.js and the native addon load at run time from node_modules
  serverExternalPackages: ["@electric-sql/pglite", "postgres", "drizzle-orm", "@huggingface/tokenizers"],
  poweredByHeader: false,
  reactStrictMode: true,
  // the web app is type-checked on its own: work in progress elsewhere (inference/) must not block a build
  typescript: { tsconfigPath: "tsconfig.web.json" },
};

export default config;

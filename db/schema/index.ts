/** Every table, for drizzle-kit and the db client. One line per schema file. */
export * from "./access";
export * from "./catalog";
export * from "./chats";
export * from "./evals";
export * from "./arena";
export * from "./presets";
export * from "./train";

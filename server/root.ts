/**
 * The app's router. Each feature router is one line here.
 */
import { accessRouter } from "./routers/access";
import { arenaRouter } from "./routers/arena";
import { catalogRouter } from "./routers/catalog";
import { statusRouter } from "./routers/status";
import { chatsRouter } from "./routers/chats";
import { generateRouter } from "./routers/generate";
import { sharesRouter } from "./routers/shares";
import { evalRouter } from "./routers/eval";
import { feedbackRouter } from "./routers/feedback";
import { presetsRouter } from "./routers/presets";
import { trainRouter } from "./routers/train";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  access: accessRouter,
  catalog: catalogRouter,
  status: statusRouter,
  generate: generateRouter,
  chats: chatsRouter,
  shares: sharesRouter,
  eval: evalRouter,
  arena: arenaRouter,
  presets: presetsRouter,
  feedback: feedbackRouter,
  train: trainRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side calls without HTTP (RSC prefetch, tests): `createCaller(ctx).catalog.list()`. */
export const createCaller = createCallerFactory(appRouter);

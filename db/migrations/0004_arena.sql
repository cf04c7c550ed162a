CREATE TABLE "arena_battles" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"task" text NOT NULL,
	"model_a" text,
	"model_b" text,
	"base_model_id" text NOT NULL,
	"run_id" text NOT NULL,
	"inputs" jsonb NOT NULL,
	"params" jsonb NOT NULL,
	"vote" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"voted_at" timestamp with time zone,
	CONSTRAINT "arena_battles_vote_check" CHECK ("arena_battles"."vote" is null or "arena_battles"."vote" in ('a', 'b', 'tie', 'both_bad'))
);
--> statement-breakpoint
CREATE INDEX "arena_battles_task_voted_idx" ON "arena_battles" USING btree ("task","voted_at");--> statement-breakpoint
CREATE INDEX "arena_battles_owner_idx" ON "arena_battles" USING btree ("owner_id","created_at");
CREATE TABLE "eval_examples" (
	"id" serial PRIMARY KEY NOT NULL,
	"result_id" integer NOT NULL,
	"row_index" integer NOT NULL,
	"inputs" jsonb NOT NULL,
	"reference" text NOT NULL,
	"prediction" text NOT NULL,
	"base_prediction" text,
	"score" real NOT NULL,
	"base_score" real,
	"correct" boolean NOT NULL,
	"base_correct" boolean,
	"latency_ms" real NOT NULL,
	"base_latency_ms" real
);
--> statement-breakpoint
CREATE TABLE "eval_results" (
	"id" serial PRIMARY KEY NOT NULL,
	"run_id" integer NOT NULL,
	"adapter_slug" text NOT NULL,
	"adapter_id" text NOT NULL,
	"metric" text NOT NULL,
	"score" real NOT NULL,
	"base_score" real,
	"n" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "eval_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"origin" text NOT NULL,
	"model_id" text NOT NULL,
	"worker_url" text NOT NULL,
	"protocol" text NOT NULL,
	"adapters" jsonb NOT NULL,
	"example_limit" integer,
	"concurrency" integer NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"total" integer DEFAULT 0 NOT NULL,
	"wall_ms" real,
	"requests_per_second" real,
	"throughput" jsonb,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "eval_examples" ADD CONSTRAINT "eval_examples_result_id_eval_results_id_fk" FOREIGN KEY ("result_id") REFERENCES "public"."eval_results"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "eval_results" ADD CONSTRAINT "eval_results_run_id_eval_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."eval_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "eval_examples_result_row_idx" ON "eval_examples" USING btree ("result_id","row_index");--> statement-breakpoint
CREATE UNIQUE INDEX "eval_results_run_adapter_idx" ON "eval_results" USING btree ("run_id","adapter_slug");--> statement-breakpoint
CREATE INDEX "eval_results_adapter_idx" ON "eval_results" USING btree ("adapter_slug");--> statement-breakpoint
CREATE INDEX "eval_runs_started_idx" ON "eval_runs" USING btree ("started_at");
CREATE TABLE "train_datasets" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"file_name" text NOT NULL,
	"bytes" integer NOT NULL,
	"rows" integer NOT NULL,
	"columns" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "train_points" (
	"run_id" integer NOT NULL,
	"step" integer NOT NULL,
	"epoch" real NOT NULL,
	"train_loss" real NOT NULL,
	"val_loss" real,
	"lr" real NOT NULL,
	"tokens_per_s" real,
	CONSTRAINT "train_points_run_id_step_pk" PRIMARY KEY("run_id","step")
);
--> statement-breakpoint
CREATE TABLE "train_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"owner_id" text,
	"status" text NOT NULL,
	"config" jsonb NOT NULL,
	"dataset" jsonb NOT NULL,
	"dataset_name" text NOT NULL,
	"task_card" text,
	"row_accounting" jsonb NOT NULL,
	"base_model_id" text NOT NULL,
	"adapter_slug" text NOT NULL,
	"step" integer DEFAULT 0 NOT NULL,
	"total_steps" integer DEFAULT 0 NOT NULL,
	"epoch" real DEFAULT 0 NOT NULL,
	"train_loss" real,
	"val_loss" real,
	"tokens_per_s" real,
	"eta_s" real,
	"seconds" real DEFAULT 0 NOT NULL,
	"error" text,
	"checkpoint_dir" text,
	"eval_run_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "train_points" ADD CONSTRAINT "train_points_run_id_train_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."train_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "train_datasets_owner_idx" ON "train_datasets" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "train_runs_status_idx" ON "train_runs" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "train_runs_adapter_idx" ON "train_runs" USING btree ("adapter_slug");
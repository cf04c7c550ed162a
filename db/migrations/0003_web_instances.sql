CREATE TABLE "web_instances" (
	"id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_until" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "generations" ADD COLUMN "run_id" text;--> statement-breakpoint
ALTER TABLE "generations" ADD COLUMN "instance_id" text;--> statement-breakpoint
CREATE INDEX "generations_run_idx" ON "generations" USING btree ("run_id");
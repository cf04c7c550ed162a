CREATE TABLE "generation_feedback" (
	"generation_id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"rating" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "generation_feedback_rating_check" CHECK ("generation_feedback"."rating" in (1, -1))
);
--> statement-breakpoint
CREATE TABLE "presets" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"name" text NOT NULL,
	"adapter" text,
	"mode" text NOT NULL,
	"inputs" jsonb NOT NULL,
	"prompt" text DEFAULT '' NOT NULL,
	"params" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "eval_runs" ADD COLUMN "owner_id" text;--> statement-breakpoint
ALTER TABLE "generation_feedback" ADD CONSTRAINT "generation_feedback_generation_id_generations_id_fk" FOREIGN KEY ("generation_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "generation_feedback_owner_idx" ON "generation_feedback" USING btree ("owner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "presets_owner_name_idx" ON "presets" USING btree ("owner_id","name");--> statement-breakpoint
CREATE INDEX "presets_owner_updated_idx" ON "presets" USING btree ("owner_id","updated_at");
CREATE TABLE "adapters" (
	"slug" text PRIMARY KEY NOT NULL,
	"adapter_id" text NOT NULL,
	"base_model_id" text NOT NULL,
	"collection" text NOT NULL,
	"display_name" text NOT NULL,
	"category" text NOT NULL,
	"task" text DEFAULT '' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"dataset" text DEFAULT '' NOT NULL,
	"dataset_link" text,
	"prompt_template" text,
	"input_columns" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"target_column" text,
	"sample_inputs" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"expected_output_format" text,
	"metric_name" text NOT NULL,
	"hf_repo" text,
	"note" text,
	"sort_order" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "base_models" (
	"id" text PRIMARY KEY NOT NULL,
	"display_name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"hf_repo" text,
	"parameters" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "metrics" (
	"adapter_slug" text NOT NULL,
	"model_label" text NOT NULL,
	"source" text NOT NULL,
	"metric_name" text NOT NULL,
	"value" real NOT NULL,
	"examples" integer,
	"measured_at" timestamp with time zone NOT NULL,
	"measured_by" text NOT NULL,
	CONSTRAINT "metrics_adapter_slug_model_label_source_pk" PRIMARY KEY("adapter_slug","model_label","source")
);
--> statement-breakpoint
CREATE TABLE "chat_messages" (
	"id" text PRIMARY KEY NOT NULL,
	"chat_id" text NOT NULL,
	"turn" integer NOT NULL,
	"role" text NOT NULL,
	"content" text NOT NULL,
	"inputs" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chats" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"kind" text NOT NULL,
	"title" text NOT NULL,
	"settings" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "generations" (
	"id" text PRIMARY KEY NOT NULL,
	"chat_id" text NOT NULL,
	"owner_id" text NOT NULL,
	"turn" integer NOT NULL,
	"pane" integer DEFAULT 0 NOT NULL,
	"adapter_id" text,
	"mode" text NOT NULL,
	"prompt" text NOT NULL,
	"params" jsonb NOT NULL,
	"status" text NOT NULL,
	"output" text DEFAULT '' NOT NULL,
	"tokens" jsonb,
	"finish_reason" text,
	"error" text,
	"queue_ms" real,
	"ttft_ms" real,
	"total_ms" real,
	"tokens_in" integer,
	"tokens_out" integer,
	"tokens_per_second" real,
	"seed" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "shares" (
	"slug" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"chat_id" text,
	"title" text NOT NULL,
	"description" text NOT NULL,
	"snapshot" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_base_model_id_base_models_id_fk" FOREIGN KEY ("base_model_id") REFERENCES "public"."base_models"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "metrics" ADD CONSTRAINT "metrics_adapter_slug_adapters_slug_fk" FOREIGN KEY ("adapter_slug") REFERENCES "public"."adapters"("slug") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_chat_id_chats_id_fk" FOREIGN KEY ("chat_id") REFERENCES "public"."chats"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generations" ADD CONSTRAINT "generations_chat_id_chats_id_fk" FOREIGN KEY ("chat_id") REFERENCES "public"."chats"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "adapters_base_model_idx" ON "adapters" USING btree ("base_model_id");--> statement-breakpoint
CREATE INDEX "adapters_collection_idx" ON "adapters" USING btree ("collection");--> statement-breakpoint
CREATE UNIQUE INDEX "chat_messages_chat_turn_idx" ON "chat_messages" USING btree ("chat_id","turn");--> statement-breakpoint
CREATE INDEX "chats_owner_updated_idx" ON "chats" USING btree ("owner_id","updated_at");--> statement-breakpoint
CREATE INDEX "generations_chat_idx" ON "generations" USING btree ("chat_id","turn","pane");--> statement-breakpoint
CREATE INDEX "generations_status_idx" ON "generations" USING btree ("status");--> statement-breakpoint
CREATE INDEX "shares_owner_idx" ON "shares" USING btree ("owner_id");
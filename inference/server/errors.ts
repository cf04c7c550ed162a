/**
 * Errors of the HTTP layer and their two wire shapes:
 * - LoRAX / TGI: `{"error": message, "error_type": type}` (plus `field` and `code` when known);
 * - OpenAI: `{"error": {"message", "type", "param", "code"}}`.
 * Engine errors (EngineError, or an engine "error" event) map to a status by their code.
 */
import { EngineError } from "../errors";

export class HttpError extends Error {
  readonly status: number;
  /** machine-readable code, e.g. "adapter_not_found", "invalid_request" */
  readonly code: string;
  /** the request field at fault, when one is (`parameters.max_new_tokens`, `messages`...) */
  readonly field?: string;
  /** seconds, sent as Retry-After (429, 503) */
  readonly retryAfter?: number;

  constructor(status: number, code: string, message: string, opts: { field?: string; retryAfter?: number } = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.field = opts.field;
    this.retryAfter = opts.retryAfter;
  }
}

/** HTTP status for an engine error code (from an "error" event or an EngineError). */
export function statusForEngineCode(code: string): number {
  switch (code) {
    case "adapter_not_found":
      return 404;
    case "adapter_invalid":
    case "safetensors_invalid":
    case "prompt_too_long":
    case "invalid_request":
    case "invalid_option":
      return 422;
    case "overloaded":
      return 429;
    case "unavailable":
      return 503;
    default:
      return 424; // the request was valid; generating it failed
  }
}

/** field named by an engine error code, when the engine did not say */
function fieldForEngineCode(code: string): string | undefined {
  if (code.startsWith("adapter_") || code === "safetensors_invalid") return "adapter_id";
  if (code === "prompt_too_long") return "inputs";
  return undefined;
}

export function fromEngineEvent(code: string, message: string, field?: string): HttpError {
  return new HttpError(statusForEngineCode(code), code, message, { field: field ?? fieldForEngineCode(code) });
}

/** Anything thrown while serving a request, as an HttpError (unknown errors are 500 "internal"). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EngineError) {
    const status = err.status >= 400 && err.status < 600 ? err.status : statusForEngineCode(err.code);
    return new HttpError(status, err.code, err.message, { field: err.field ?? fieldForEngineCode(err.code) });
  }
  return new HttpError(500, "internal", err instanceof Error ? err.message : String(err));
}

/** LoRAX/TGI `error_type` for a status */
export function loraxErrorType(status: number): string {
  if (status === 404) return "not_found";
  if (status === 413) return "payload_too_large";
  if (status === 422 || status === 400) return "validation";
  if (status === 424) return "generation";
  if (status === 429) return "overloaded";
  if (status === 503) return "unavailable";
  if (status === 401 || status === 403) return "unauthorized";
  return "internal";
}

export function loraxErrorBody(e: HttpError): { error: string; error_type: string; code: string; field?: string } {
  return { error: e.message, error_type: loraxErrorType(e.status), code: e.code, ...(e.field ? { field: e.field } : {}) };
}

/** OpenAI error `type` for a status (as api.openai.com uses them) */
function openaiErrorType(status: number): string {
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 401 || status === 403) return "authentication_error";
  if (status >= 500 || status === 424) return "server_error";
  return "invalid_request_error";
}

export function openaiErrorBody(e: HttpError): { error: { message: string; type: string; param: string | null; code: string } } {
  return { error: { message: e.message, type: openaiErrorType(e.status), param: e.field ?? null, code: e.code } };
}

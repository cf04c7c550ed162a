/**
 * Errors are values with a code, a message a user can act on, the field at fault (when one is)
 * and the HTTP status the worker answers with. Everything the engine refuses throws one of these.
 */
export class EngineError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field?: string;

  constructor(code: string, message: string, opts: { status?: number; field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "EngineError";
    this.code = code;
    this.status = opts.status ?? 422;
    this.field = opts.field;
  }
}

/** A model directory, weight file or config that cannot be used. */
export class ModelLoadError extends EngineError {
  constructor(message: string, opts: { field?: string; cause?: unknown } = {}) {
    super("model_invalid", message, { status: 500, ...opts });
    this.name = "ModelLoadError";
  }
}

/** An adapter that cannot be served; the message names the adapter and the field. */
export class AdapterError extends EngineError {
  readonly adapterId: string;
  constructor(adapterId: string, message: string, opts: { code?: string; field?: string; status?: number; cause?: unknown } = {}) {
    super(opts.code ?? "adapter_invalid", `adapter "${adapterId}": ${message}`, { status: opts.status ?? 422, field: opts.field, cause: opts.cause });
    this.name = "AdapterError";
    this.adapterId = adapterId;
  }
}

/** A malformed or truncated safetensors file. */
export class SafetensorsError extends EngineError {
  constructor(file: string, message: string) {
    super("safetensors_invalid", `${file}: ${message}`, { status: 422 });
    this.name = "SafetensorsError";
  }
}

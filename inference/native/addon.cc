// Placeholder: replaced by the native kernels.
#include <napi.h>
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(lora_kernels, Init)

{
  "targets": [
    {
      "target_name": "lora_kernels",
      "sources": [
        "inference/native/addon.cc",
        "inference/native/thread_pool.cc",
        "inference/native/quantize.cc",
        "inference/native/isa_avx512.cc",
        "inference/native/isa_avx512vnni.cc",
        "inference/native/isa_avx2.cc",
        "inference/native/isa_generic.cc"
      ],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=fast", "-fopenmp-simd", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    }
  ]
}

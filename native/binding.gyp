{
  "targets": [
    {
      "target_name": "vae_gemm",
      "sources": ["gemm.cc", "conv.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=off", "-fno-math-errno"],
      "libraries": ["-lmvec"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "vae_decode",
      "sources": ["decode.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-ffp-contract=off", "-fno-math-errno"],
      "libraries": ["-ljpeg", "-lpng"]
    }
  ]
}

/**
 * The tests' environment (jest's setupFiles, before every test file): the WebGPU engine's products untuned on any
 * adapter, as on lavapipe, where tuning is off by default: the engine lines the tests read and their timings assume
 * it. The tests of the tuner ask for it (VAE_GPU_TUNE=1, GpuInfo.tune). No tuner's picks are read from or kept in
 * the user's cache folder (VAE_GPU_TUNE_CACHE=off): the tests that keep them name a folder of their own.
 */
process.env.VAE_GPU_TUNE ??= '0';
process.env.VAE_GPU_TUNE_CACHE ??= 'off';

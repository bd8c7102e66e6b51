// The first run's hot path: a folder's JPEG and PNG pictures decoded with libjpeg-turbo and libpng, centre-cropped
// to a square and scaled, on libuv's threads, a batch of files per call. sharp (libvips) spent ~1.9 ms of a core a
// picture on its pipeline where libjpeg-turbo decodes one of these in ~0.05 ms.
//
// The bytes must be those of the JavaScript path (src/data/images.ts's decodeSquare: sharp's decode, then
// src/data/resample.ts), so that a cache does not depend on whether this addon was built: the decode is the same
// library doing the same thing (sharp decodes JPEGs with libjpeg-turbo's API, islow IDCT, fancy upsampling), and the
// resampling below repeats resample.ts's integer arithmetic. Whatever it would do differently it does not do: a picture that needs rotating (EXIF),
// colour management (an ICC profile), alpha, CMYK, 16 bits, a large picture (libvips shrinks those first), or one
// libjpeg warns about, is given back as "not mine" and decoded by sharp. test/data/native-decode.test.ts compares
// the two paths byte for byte.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <node_api.h>
#include <png.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace vaedecode {
namespace {

enum Status : uint8_t { kDone = 0, kNotMine = 1 };

// ---- resample.ts, in C++: the same integers ----
constexpr int kWeightOne = 4096, kColumnShift = 6, kRowShift = 12 + 12 - kColumnShift;

struct Taps {
  std::vector<int> start, index, weight;
};

Taps taps(int m, int size) {
  Taps t;
  t.start.push_back(0);
  const double scale = static_cast<double>(m) / size;
  std::vector<std::pair<int, double>> mine;
  for (int i = 0; i < size; i++) {
    mine.clear();
    if (m > size) {
      const double from = i * scale, to = (i + 1) * scale;
      const int last = std::min(m, static_cast<int>(std::ceil(to)));
      for (int j = static_cast<int>(std::floor(from)); j < last; j++) {
        const double cover = std::min(to, static_cast<double>(j + 1)) - std::max(from, static_cast<double>(j));
        if (cover > 0) mine.emplace_back(j, cover / scale);
      }
    } else {
      const double x = std::min(static_cast<double>(m - 1), std::max(0.0, (i + 0.5) * scale - 0.5));
      const int j = static_cast<int>(std::floor(x));
      const double f = x - j;
      mine.emplace_back(j, 1 - f);
      if (f > 0 && j + 1 < m) mine.emplace_back(j + 1, f);
    }
    const size_t first = t.weight.size();
    int sum = 0;
    size_t largest = first;
    for (const auto& [j, w] : mine) {
      const int units = static_cast<int>(std::floor(w * kWeightOne + 0.5));
      t.index.push_back(j);
      t.weight.push_back(units);
      sum += units;
      if (units > t.weight[largest]) largest = t.weight.size() - 1;
    }
    t.weight[largest] += kWeightOne - sum;
    t.start.push_back(static_cast<int>(t.index.size()));
  }
  return t;
}

// RGB pixels, width x height, centre-cropped to a square and scaled to size x size x 3 into out.
void squareResample(const uint8_t* px, int width, int height, int size, uint8_t* out) {
  const int m = std::min(width, height);
  const int left = (width - m) / 2, top = (height - m) / 2;
  const Taps t = taps(m, size);
  const int line = m * 3;
  std::vector<int32_t> cols(static_cast<size_t>(size) * line), column(line);
  for (int i = 0; i < size; i++) {
    std::fill(column.begin(), column.end(), 0);
    for (int k = t.start[i]; k < t.start[i + 1]; k++) {
      const uint8_t* s = px + (static_cast<size_t>(top + t.index[k]) * width + left) * 3;
      const int32_t w = t.weight[k];
      for (int x = 0; x < line; x++) column[x] += w * s[x];
    }
    int32_t* o = cols.data() + static_cast<size_t>(i) * line;
    for (int x = 0; x < line; x++) o[x] = (column[x] + (1 << (kColumnShift - 1))) >> kColumnShift;
  }
  const int32_t half = 1 << (kRowShift - 1);
  for (int y = 0; y < size; y++) {
    const int32_t* src = cols.data() + static_cast<size_t>(y) * line;
    uint8_t* o = out + static_cast<size_t>(y) * size * 3;
    for (int i = 0; i < size; i++, o += 3) {
      int32_t r = 0, g = 0, b = 0;
      for (int k = t.start[i]; k < t.start[i + 1]; k++) {
        const int32_t* s = src + t.index[k] * 3;
        const int32_t w = t.weight[k];
        r += w * s[0];
        g += w * s[1];
        b += w * s[2];
      }
      o[0] = static_cast<uint8_t>((r + half) >> kRowShift);
      o[1] = static_cast<uint8_t>((g + half) >> kRowShift);
      o[2] = static_cast<uint8_t>((b + half) >> kRowShift);
    }
  }
}

// ---- JPEG ----
struct JpegErrors {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  bool warned;
};

void jpegFail(j_common_ptr cinfo) { longjmp(reinterpret_cast<JpegErrors*>(cinfo->err)->jump, 1); }
void jpegMessage(j_common_ptr cinfo, int level) {
  if (level < 0) reinterpret_cast<JpegErrors*>(cinfo->err)->warned = true;
}

// An EXIF block's orientation (1 when it has none).
int exifOrientation(const uint8_t* p, size_t n) {
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  p += 6;
  n -= 6;
  const bool le = p[0] == 'I';
  auto u16 = [&](size_t at) -> unsigned { return at + 2 > n ? 0 : le ? p[at] | p[at + 1] << 8 : p[at] << 8 | p[at + 1]; };
  auto u32 = [&](size_t at) -> size_t {
    return at + 4 > n ? n : le ? p[at] | p[at + 1] << 8 | p[at + 2] << 16 | static_cast<size_t>(p[at + 3]) << 24
                               : static_cast<size_t>(p[at]) << 24 | p[at + 1] << 16 | p[at + 2] << 8 | p[at + 3];
  };
  const size_t ifd = u32(4);
  const unsigned entries = u16(ifd);
  for (unsigned e = 0; e < entries; e++) {
    const size_t at = ifd + 2 + 12 * e;
    if (at + 12 > n) break;
    if (u16(at) == 0x0112) return static_cast<int>(u16(at + 8));
  }
  return 1;
}

bool decodeJpeg(const std::vector<uint8_t>& file, int maxSide, std::vector<uint8_t>& rgb, int& width, int& height) {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpegFail;
  errors.mgr.emit_message = jpegMessage;
  errors.warned = false;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, file.data(), static_cast<unsigned long>(file.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xffff);
  jpeg_read_header(&cinfo, TRUE);
  bool mine = (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_GRAYSCALE) &&
              std::min(cinfo.image_width, cinfo.image_height) <= static_cast<unsigned>(maxSide);
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m && mine; m = m->next) {
    if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && std::memcmp(m->data, "ICC_PROFILE", 11) == 0) mine = false;
    if (m->marker == JPEG_APP0 + 1 && exifOrientation(m->data, m->data_length) != 1) mine = false;
  }
  if (!mine) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  width = static_cast<int>(cinfo.output_width);
  height = static_cast<int>(cinfo.output_height);
  rgb.resize(static_cast<size_t>(width) * height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rgb.data() + static_cast<size_t>(cinfo.output_scanline) * width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return !errors.warned;
}

// ---- PNG ----
struct PngSource {
  const uint8_t* data;
  size_t size, at;
};

void pngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->at + n > src->size) png_error(png, "truncated");
  std::memcpy(out, src->data + src->at, n);
  src->at += n;
}
void pngWarn(png_structp, png_const_charp) {}

bool decodePng(const std::vector<uint8_t>& file, int maxSide, std::vector<uint8_t>& rgb, int& width, int& height) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, pngWarn);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  std::vector<png_bytep> rows;  // before setjmp: a longjmp must not skip a destructor
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return false;
  }
  PngSource src{file.data(), file.size(), 0};
  png_set_read_fn(png, &src, pngRead);
  png_read_info(png, info);
  const int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  width = static_cast<int>(png_get_image_width(png, info));
  height = static_cast<int>(png_get_image_height(png, info));
  const bool mine = depth == 8 && (type == PNG_COLOR_TYPE_RGB || type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_PALETTE) &&
                    !png_get_valid(png, info, PNG_INFO_tRNS) && !png_get_valid(png, info, PNG_INFO_iCCP) &&
                    !png_get_valid(png, info, PNG_INFO_gAMA) && std::min(width, height) <= maxSide;
  if (!mine) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  rgb.resize(static_cast<size_t>(width) * height * 3);
  rows.resize(height);
  for (int y = 0; y < height; y++) rows[y] = rgb.data() + static_cast<size_t>(y) * width * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// One file into out (size x size x 3), or kNotMine.
Status decodeFile(const std::string& path, int size, int maxSide, uint8_t* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return kNotMine;
  std::vector<uint8_t> file;
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), f)) > 0) file.insert(file.end(), chunk, chunk + got);
  std::fclose(f);
  std::vector<uint8_t> rgb;
  int width = 0, height = 0;
  bool done = false;
  if (file.size() > 3 && file[0] == 0xff && file[1] == 0xd8) done = decodeJpeg(file, maxSide, rgb, width, height);
  else if (file.size() > 8 && std::memcmp(file.data(), "\x89PNG\r\n\x1a\n", 8) == 0) done = decodePng(file, maxSide, rgb, width, height);
  if (!done || width < 1 || height < 1) return kNotMine;
  squareResample(rgb.data(), width, height, size, out);
  return kDone;
}

// ---- a picture's size from its header (what sharp's metadata() gives: before any EXIF rotation) ----
// Width and height of a JPEG (its frame header) or a PNG (IHDR) from the file's first bytes; false when it is neither
// or they are not where they should be (sharp then reads the header).
bool headerSize(const std::string& path, int& width, int& height) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::vector<uint8_t> head(1 << 16);
  size_t n = std::fread(head.data(), 1, head.size(), f);
  bool found = false;
  if (n >= 24 && std::memcmp(head.data(), "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(head.data() + 12, "IHDR", 4) == 0) {
    width = head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    height = head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    found = true;
  } else if (n >= 4 && head[0] == 0xff && head[1] == 0xd8) {
    // Segments up to the frame header (SOF0..SOF15 but DHT, JPG and DAC), reading further where an EXIF block is long.
    size_t at = 2;
    long offset = 0;  // of head[0] in the file
    while (!found) {
      if (at + 9 > n) {
        if (n < head.size()) break;  // the file ended
        offset += static_cast<long>(at);
        if (std::fseek(f, offset, SEEK_SET) != 0) break;
        n = std::fread(head.data(), 1, head.size(), f);
        at = 0;
        continue;
      }
      if (head[at] != 0xff) break;
      const int marker = head[at + 1];
      if (marker == 0xff) { at++; continue; }
      const size_t length = head[at + 2] << 8 | head[at + 3];
      if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc) {
        height = head[at + 5] << 8 | head[at + 6];
        width = head[at + 7] << 8 | head[at + 8];
        found = true;
      } else if (marker == 0xd9 || marker == 0xda || length < 2) {
        break;
      } else {
        at += 2 + length;
      }
    }
  }
  std::fclose(f);
  return found && width > 0 && height > 0;
}

struct ProbeJob {
  std::vector<std::string> paths;
  std::vector<int32_t> sizes;  // width, height per path; 0, 0 where sharp must read it
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void probeExecute(napi_env, void* data) {
  auto* job = static_cast<ProbeJob*>(data);
  for (size_t i = 0; i < job->paths.size(); i++) {
    int w = 0, h = 0;
    if (headerSize(job->paths[i], w, h)) {
      job->sizes[2 * i] = w;
      job->sizes[2 * i + 1] = h;
    }
  }
}

void probeComplete(napi_env env, napi_status, void* data) {
  auto* job = static_cast<ProbeJob*>(data);
  napi_value buffer, sizes;
  void* bytes = nullptr;
  napi_create_arraybuffer(env, job->sizes.size() * 4, &bytes, &buffer);
  if (!job->sizes.empty()) std::memcpy(bytes, job->sizes.data(), job->sizes.size() * 4);
  napi_create_typedarray(env, napi_int32_array, job->sizes.size(), buffer, 0, &sizes);
  napi_resolve_deferred(env, job->deferred, sizes);
  napi_delete_async_work(env, job->work);
  delete job;
}

// The strings of a JavaScript array; false when one is not a string.
bool stringArray(napi_env env, napi_value array, std::vector<std::string>& out) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return false;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    size_t bytes = 0;
    napi_get_element(env, array, i, &item);
    if (napi_get_value_string_utf8(env, item, nullptr, 0, &bytes) != napi_ok) return false;
    std::string text(bytes, '\0');
    napi_get_value_string_utf8(env, item, text.data(), bytes + 1, &bytes);
    out.push_back(std::move(text));
  }
  return true;
}

napi_value throwError(napi_env env, const char* message);

// Runs `execute` on libuv's threads, then `complete` (which resolves *deferred and deletes *work); the promise.
napi_value queue(napi_env env, const char* name, napi_async_execute_callback execute, napi_async_complete_callback complete, void* job,
                 napi_deferred* deferred, napi_async_work* work) {
  napi_value promise, label;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &label);
  napi_create_async_work(env, nullptr, label, execute, complete, job, work);
  napi_queue_async_work(env, *work);
  return promise;
}

// probeFiles(paths) → Promise<Int32Array>: width and height of each JPEG or PNG from its header, 0 and 0 otherwise.
napi_value ProbeFiles(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  auto* job = new ProbeJob();
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 || !stringArray(env, argv[0], job->paths)) {
    delete job;
    return throwError(env, "probeFiles: an array of paths expected");
  }
  job->sizes.assign(job->paths.size() * 2, 0);
  return queue(env, "vae.probeFiles", probeExecute, probeComplete, job, &job->deferred, &job->work);
}

// statFiles(paths) → Promise<Float64Array>: size, mtime seconds and mtime nanoseconds of each file (stat(2), links
// followed: fs.statSync's numbers); -1, 0, 0 where it cannot be read. A later run stats every file of a folder to
// know what changed: 200,000 calls of fs.statSync cost 1 to 1.7 s here, one call of this a tenth of that.
struct StatJob {
  std::vector<std::string> paths;
  std::vector<double> stamps;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void statExecute(napi_env, void* data) {
  auto* job = static_cast<StatJob*>(data);
  for (size_t i = 0; i < job->paths.size(); i++) {
    struct stat st;
    if (::stat(job->paths[i].c_str(), &st) != 0) continue;
    job->stamps[3 * i] = static_cast<double>(st.st_size);
    job->stamps[3 * i + 1] = static_cast<double>(st.st_mtim.tv_sec);
    job->stamps[3 * i + 2] = static_cast<double>(st.st_mtim.tv_nsec);
  }
}

void statComplete(napi_env env, napi_status, void* data) {
  auto* job = static_cast<StatJob*>(data);
  napi_value buffer, stamps;
  void* bytes = nullptr;
  napi_create_arraybuffer(env, job->stamps.size() * 8, &bytes, &buffer);
  if (!job->stamps.empty()) std::memcpy(bytes, job->stamps.data(), job->stamps.size() * 8);
  napi_create_typedarray(env, napi_float64_array, job->stamps.size(), buffer, 0, &stamps);
  napi_resolve_deferred(env, job->deferred, stamps);
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value StatFiles(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  auto* job = new StatJob();
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 || !stringArray(env, argv[0], job->paths)) {
    delete job;
    return throwError(env, "statFiles: an array of paths expected");
  }
  job->stamps.resize(job->paths.size() * 3);
  for (size_t i = 0; i < job->paths.size(); i++) job->stamps[3 * i] = -1;
  return queue(env, "vae.statFiles", statExecute, statComplete, job, &job->deferred, &job->work);
}

// ---- largeBuffer(bytes) → ArrayBuffer: zeroed memory in 2 MB pages ----
// A new buffer costs a page fault per 4 KB page on first touch, and on these virtual machines a fault costs ~13 µs:
// 200 MB of a streamed set's window took 0.5 to 0.7 s to fill, 35 ms once its pages existed. Memory mapped here and
// marked MADV_HUGEPAGE (transparent huge pages, "madvise" mode on Debian) faults once per 2 MB: the same 200 MB are
// touched in ~40 ms. The mapping is aligned to 2 MB and unmapped when the ArrayBuffer is collected.
constexpr size_t kHugePage = size_t(2) << 20;

struct Mapping {
  void* base;
  size_t length;
  int64_t bytes;
};

void unmapBuffer(napi_env env, void*, void* hint) {
  auto* mapping = static_cast<Mapping*>(hint);
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, -mapping->bytes, &adjusted);
  munmap(mapping->base, mapping->length);
  delete mapping;
}

// The one argument of a call, a whole number of at least 1; false when it is not that.
bool positiveArgument(napi_env env, napi_callback_info info, int64_t* value) {
  size_t argc = 1;
  napi_value argv[1];
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc == 1 &&
         napi_get_value_int64(env, argv[0], value) == napi_ok && *value >= 1;
}

napi_value LargeBuffer(napi_env env, napi_callback_info info) {
  int64_t bytes = 0;
  if (!positiveArgument(env, info, &bytes)) return throwError(env, "largeBuffer: a positive number of bytes expected");
  const size_t length = (static_cast<size_t>(bytes) + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return throwError(env, "largeBuffer: out of memory");
  auto* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) / kHugePage * kHugePage);
  madvise(aligned, length - kHugePage, MADV_HUGEPAGE);  // a hint: without transparent huge pages, ordinary pages
  auto* mapping = new Mapping{base, length, bytes};
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, aligned, static_cast<size_t>(bytes), unmapBuffer, mapping, &buffer) != napi_ok) {
    munmap(base, length);
    delete mapping;
    return throwError(env, "largeBuffer: external buffers are not allowed here");
  }
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, bytes, &adjusted);
  return buffer;
}

// ---- mallocArenas(n) → whether glibc took it: the most malloc arenas of this process ----
// glibc gives each new thread an arena of its own (64 MB reserved) until there are 8 per core; what a thread frees
// there stays resident for the next allocation in that arena. A training run's worker thread left ~42 MiB resident
// in its arena that the main heap would have reused (peak 982 → 959 MiB, streamed 200,000 pictures). Threads started
// after this call share the arenas that exist. Only new arenas are limited (glibc fixes its limit at the 9th arena).
napi_value MallocArenas(napi_env env, napi_callback_info info) {
  int64_t n = 0;
  if (!positiveArgument(env, info, &n) || n > 1024) return throwError(env, "mallocArenas: a positive number expected");
  bool taken = false;
#if defined(__GLIBC__)
  taken = mallopt(M_ARENA_MAX, static_cast<int>(n)) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, taken, &result);
  return result;
}

// ---- decodeFiles(paths, size, maxSide, out) → Promise<Uint8Array of statuses> ----
struct Job {
  std::vector<std::string> paths;
  int size = 0, maxSide = 0;
  uint8_t* out = nullptr;
  std::vector<uint8_t> status;
  napi_ref outRef = nullptr;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void execute(napi_env, void* data) {
  auto* job = static_cast<Job*>(data);
  const size_t dim = static_cast<size_t>(job->size) * job->size * 3;
  for (size_t i = 0; i < job->paths.size(); i++) job->status[i] = decodeFile(job->paths[i], job->size, job->maxSide, job->out + i * dim);
}

void complete(napi_env env, napi_status, void* data) {
  auto* job = static_cast<Job*>(data);
  napi_value buffer, statuses;
  void* bytes = nullptr;
  napi_create_arraybuffer(env, job->status.size(), &bytes, &buffer);
  if (!job->status.empty()) std::memcpy(bytes, job->status.data(), job->status.size());
  napi_create_typedarray(env, napi_uint8_array, job->status.size(), buffer, 0, &statuses);
  napi_resolve_deferred(env, job->deferred, statuses);
  napi_delete_reference(env, job->outRef);
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value throwError(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

napi_value DecodeFiles(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 4)
    return throwError(env, "decodeFiles(paths, size, maxSide, out) expected");
  auto* job = new Job();
  uint32_t n = 0;
  int32_t size = 0, maxSide = 0;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value arraybuffer;
  if (napi_get_array_length(env, argv[0], &n) != napi_ok || napi_get_value_int32(env, argv[1], &size) != napi_ok ||
      napi_get_value_int32(env, argv[2], &maxSide) != napi_ok || size < 1 ||
      napi_get_typedarray_info(env, argv[3], &type, &length, &data, &arraybuffer, &offset) != napi_ok || type != napi_uint8_array ||
      length < static_cast<size_t>(n) * size * size * 3) {
    delete job;
    return throwError(env, "decodeFiles: an array of paths, the side, the largest side decoded whole, and a Uint8Array of n x side x side x 3 expected");
  }
  if (!stringArray(env, argv[0], job->paths)) {
    delete job;
    return throwError(env, "decodeFiles: paths must be strings");
  }
  job->size = size;
  job->maxSide = maxSide;
  job->out = static_cast<uint8_t*>(data);
  job->status.assign(n, kNotMine);
  napi_create_reference(env, argv[3], 1, &job->outRef);
  return queue(env, "vae.decodeFiles", execute, complete, job, &job->deferred, &job->work);
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "decodeFiles", NAPI_AUTO_LENGTH, DecodeFiles, nullptr, &fn);
  napi_set_named_property(env, exports, "decodeFiles", fn);
  napi_create_function(env, "probeFiles", NAPI_AUTO_LENGTH, ProbeFiles, nullptr, &fn);
  napi_set_named_property(env, exports, "probeFiles", fn);
  napi_create_function(env, "statFiles", NAPI_AUTO_LENGTH, StatFiles, nullptr, &fn);
  napi_set_named_property(env, exports, "statFiles", fn);
  napi_create_function(env, "largeBuffer", NAPI_AUTO_LENGTH, LargeBuffer, nullptr, &fn);
  napi_set_named_property(env, exports, "largeBuffer", fn);
  napi_create_function(env, "mallocArenas", NAPI_AUTO_LENGTH, MallocArenas, nullptr, &fn);
  napi_set_named_property(env, exports, "mallocArenas", fn);
  return exports;
}

}  // namespace
}  // namespace vaedecode

NAPI_MODULE_INIT() { return vaedecode::Init(env, exports); }

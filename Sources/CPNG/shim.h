#include <png.h>
#include <zlib.h>

// Function-like and composite macros of libpng's simplified API, as constants Swift can see.
static const unsigned int lumen_png_format_rgb = PNG_FORMAT_RGB;
static const unsigned int lumen_png_format_rgba = PNG_FORMAT_RGBA;
static const unsigned int lumen_png_format_gray = PNG_FORMAT_GRAY;
static const unsigned int lumen_png_image_version = PNG_IMAGE_VERSION;

#pragma once
// The little JSON the observability files need (flight recorder dumps, trace events): strings
// escaped per RFC 8259, so a message holding quotes, backslashes or control bytes still makes a
// file every JSON reader accepts.

#include <string>
#include <string_view>

namespace banyan::observe {

// Appends `text` as a JSON string literal, quotes included.
inline void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 15];
        } else {
          out += c;  // UTF-8 passes through; JSON allows it unescaped
        }
    }
  }
  out += '"';
}

inline std::string jsonString(std::string_view text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

}  // namespace banyan::observe

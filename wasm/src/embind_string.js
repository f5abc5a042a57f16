// std::string across the Embind boundary, in one native pass each way (linked with
// --js-library, so it replaces Embind's own registration of std::string).
//
// Emscripten 3.1.6's Embind reads a returned std::string with two JavaScript loops over
// every byte (one looking for embedded NULs, one in UTF8ToString) before TextDecoder,
// and writes a JS string with two more (lengthBytesUTF8, stringToUTF8). Every reply of
// the raw tier is a std::string of JSON, every transaction and query arrives as one:
// without those loops one-entity transactions are 7-11% faster, a bulk load 8%, a pull
// of 20 000 entities 10% (docs/wasm.md).
// The wire format is Embind's: a malloc'd block holding the length (u32), the bytes and
// a NUL; the C++ side is unchanged. TextDecoder keeps NUL bytes, as Embind did.
mergeInto(LibraryManager.library, {
  _embind_register_std_string__deps: ['$readLatin1String', '$registerType', '$simpleReadValueFromPointer',
                                      '$throwBindingError'],
  _embind_register_std_string: function (rawType, name) {
    name = readLatin1String(name);
    // Only std::string holds UTF-8; other byte strings (std::basic_string<unsigned
    // char>) map bytes to code units 0-255, as Embind does.
    var utf8 = name === 'std::string';
    var decoder = new TextDecoder();
    var encoder = new TextEncoder();
    // Under Node (20) TextDecoder goes through ICU, about 200 MB/s; most replies are
    // ASCII JSON, which Buffer reads as Latin-1 (the same text for ASCII bytes) about
    // 20 times as fast. The check reads 4 bytes at a time, 0.1-0.25 ms per MB; `at` is
    // 4-aligned (a block's bytes follow its u32 length, and malloc aligns to 8).
    var latin1 = ENVIRONMENT_IS_NODE && typeof Buffer === 'function' ? Buffer : null;
    // In browsers a short text crosses by a JS loop: TextDecoder.decode and
    // TextEncoder.encodeInto cost about a microsecond a call there whatever the length
    // (one-entity transactions in Chromium 11% faster with these loops, their reports
    // being a few hundred bytes). Under Node those calls are the faster ones.
    var SHORT = ENVIRONMENT_IS_NODE ? 0 : 1024;
    function ascii(at, end) {
      var bits = 0, i = at >> 2;
      for (; i < end >> 2; ++i) bits |= HEAP32[i];
      for (i <<= 2; i < end; ++i) bits |= HEAPU8[i];
      return (bits & 0x80808080) === 0;
    }
    function decode(at, length) {
      if (length <= SHORT && ascii(at, at + length)) return String.fromCharCode.apply(null, HEAPU8.subarray(at, at + length));
      if (latin1 && length >= 1024 && ascii(at, at + length)) return latin1.from(HEAPU8.buffer, at, length).toString('latin1');
      return decoder.decode(HEAPU8.subarray(at, at + length));
    }
    // Writes `text` at `at` if it is all ASCII (false at its first other code unit).
    function putAscii(text, at) {
      for (var i = 0; i < text.length; ++i) {
        var c = text.charCodeAt(i);
        if (c > 0x7f) return false;
        HEAPU8[at + i] = c;
      }
      return true;
    }
    // A text's code units as bytes (a byte string that is not UTF-8).
    function codeUnits(text) {
      var out = new Uint8Array(text.length);
      for (var i = 0; i < text.length; ++i) {
        if (text.charCodeAt(i) > 255) throwBindingError('String has UTF-16 code units that do not fit in 8 bits');
        out[i] = text.charCodeAt(i);
      }
      return out;
    }
    // A fresh wire block with room for `room` bytes, which `fill(at)` writes, returning
    // how many it wrote. HEAPU8 is read after malloc, which may grow (and so replace)
    // the memory.
    function block(room, fill) {
      var ptr = _malloc(4 + room + 1);
      var length = fill(ptr + 4);
      HEAPU32[ptr >> 2] = length;
      HEAPU8[ptr + 4 + length] = 0;
      return ptr;
    }
    registerType(rawType, {
      name: name,
      'fromWireType': function (ptr) {
        var length = HEAPU32[ptr >> 2];
        var s = '';
        if (utf8) {
          s = decode(ptr + 4, length);
        } else {
          for (var i = 0; i < length; ++i) s += String.fromCharCode(HEAPU8[ptr + 4 + i]);
        }
        _free(ptr);
        return s;
      },
      'toWireType': function (destructors, value) {
        var ptr = 0, bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
        if (typeof value === 'string' && utf8 && value.length <= 4096) {
          // A short text is encoded straight into a block sized for its worst case
          // (three bytes per UTF-16 unit).
          ptr = block(3 * value.length, function (at) {
            if (value.length <= SHORT && putAscii(value, at)) return value.length;
            return encoder.encodeInto(value, HEAPU8.subarray(at, at + 3 * value.length)).written;
          });
        } else if (typeof value === 'string' && utf8) {
          // A long one (a bulk load's transaction) into a block of one byte per UTF-16
          // unit, which encodeInto fills exactly when the text is all ASCII; else it is
          // encoded first, so the memory grows by what it needs, not three times that.
          // TextEncoder.encode is the slow way: 3 MB of JSON take 45 ms in Chromium
          // (13 ms in Node), encodeInto 1.4 ms (0.2).
          ptr = _malloc(4 + value.length + 1);
          var r = encoder.encodeInto(value, HEAPU8.subarray(ptr + 4, ptr + 4 + value.length));
          if (r.read === value.length) {
            HEAPU32[ptr >> 2] = r.written;
            HEAPU8[ptr + 4 + r.written] = 0;
          } else {
            _free(ptr);
            ptr = 0;
            bytes = encoder.encode(value);
          }
        } else if (typeof value === 'string') {
          bytes = codeUnits(value);
        }
        if (!ptr) {
          if (!(bytes instanceof Uint8Array || bytes instanceof Uint8ClampedArray || bytes instanceof Int8Array)) {
            throwBindingError('Cannot pass non-string to std::string');
          }
          ptr = block(bytes.length, function (at) {
            HEAPU8.set(bytes, at);
            return bytes.length;
          });
        }
        if (destructors !== null) destructors.push(_free, ptr);
        return ptr;
      },
      'argPackAdvance': 8,
      'readValueFromPointer': simpleReadValueFromPointer,
      destructorFunction: function (ptr) { _free(ptr); },
    });
  },
});

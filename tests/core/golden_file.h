// The golden file format shared by the test drivers (golden_tx_test.cpp,
// golden_query_test.cpp): a sequence of blocks separated by blank lines; a line that is
// `#` or starts with "# " is a comment (so `#{...}` stays data). A block is a command,
// which may span lines, and optionally, after a `----` line, its expected output.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace datalith::golden {

struct Block {
  int line = 0;                       // where the command starts
  std::string command;                // its lines joined with '\n'
  std::vector<std::string> expected;  // the lines after `----`
  bool has_expected = false;          // whether there was a `----` line

  std::string Expected() const {
    std::string s;
    for (size_t i = 0; i < expected.size(); ++i) s += (i ? "\n" : "") + expected[i];
    return s;
  }
};

inline std::vector<Block> ReadBlocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<Block> blocks;
  std::string line;
  bool open = false, in_expected = false;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      open = false;
      continue;
    }
    if (line[0] == '#' && (line.size() == 1 || line[1] == ' ')) continue;
    if (!open) {
      blocks.push_back(Block{n, line, {}, false});
      open = true;
      in_expected = false;
    } else if (line == "----") {
      in_expected = true;
      blocks.back().has_expected = true;
    } else if (in_expected) {
      blocks.back().expected.push_back(line);
    } else {
      blocks.back().command += "\n" + line;
    }
  }
  return blocks;
}

}  // namespace datalith::golden

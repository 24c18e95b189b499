// The smallest Shoal program: connect, write a key, read it back.
//   hello HOST:PORT[,HOST:PORT...]
#include <cstdio>
#include <string>
#include <vector>

#include "net/client/client.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hello HOST:PORT[,HOST:PORT...]\n");
    return 2;
  }
  shoal::client::ClientOptions options;
  std::string list = argv[1];
  for (std::size_t start = 0; start <= list.size();) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    options.nodes.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  auto client = shoal::client::Client::connect(options);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.error().to_string().c_str());
    return 1;
  }
  shoal::client::Key key{"default", "examples", "hello"};
  shoal::client::PutOptions put;
  put.content_type = "text/plain";
  if (auto written = client.value()->put(key, "hello, Shoal", put); !written) {
    std::fprintf(stderr, "put: %s\n", written.error().to_string().c_str());
    return 1;
  }
  auto read = client.value()->get(key);
  if (!read || !read.value().found) {
    std::fprintf(stderr, "get: %s\n", read ? "not found" : read.error().to_string().c_str());
    return 1;
  }
  // Earlier runs without a context add siblings; print them all.
  for (const auto& sibling : read.value().siblings) std::printf("%s\n", sibling.value.c_str());
  return 0;
}

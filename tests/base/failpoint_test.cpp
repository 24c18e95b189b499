#include "base/failpoint.hpp"

#include <catch2/catch.hpp>

using namespace shoal;

TEST_CASE("failpoints are inert until enabled, then fire as specified", "[failpoint]") {
  failpoint::clear_all();
  // Before enable() nothing can be armed (a production node never fails by accident).
  if (!failpoint::enabled()) {
    REQUIRE(failpoint::set("x", "error").has_error());
  }
  failpoint::enable();
  CHECK(failpoint::eval("never.set") == failpoint::Action::none);

  REQUIRE(failpoint::set("t.error", "error").has_value());
  auto r = failpoint::check("t.error");
  REQUIRE(r.has_error());
  CHECK(r.error().code == Errc::injected);

  REQUIRE(failpoint::set("t.twice", "2*error").has_value());
  CHECK(failpoint::check("t.twice").has_error());
  CHECK(failpoint::check("t.twice").has_error());
  CHECK(failpoint::check("t.twice").has_value());
  CHECK(failpoint::fired_count("t.twice") == 2);

  REQUIRE(failpoint::set("t.throw", "throw").has_value());
  CHECK_THROWS_AS((void)failpoint::check("t.throw"), failpoint::Injected);

  REQUIRE(failpoint::set("t.never", "0%error").has_value());
  for (int i = 0; i < 100; ++i) CHECK(failpoint::check("t.never").has_value());

  REQUIRE(failpoint::set("t.zero", "0*error").has_value());
  CHECK(failpoint::check("t.zero").has_value());

  REQUIRE(failpoint::configure("a=drop;b=delay(1)").has_value());
  CHECK(failpoint::eval("a") == failpoint::Action::drop);
  CHECK(failpoint::eval("b") == failpoint::Action::none);  // delayed, then continued
  CHECK(failpoint::fired_count("b") == 1);

  failpoint::clear("a");
  CHECK(failpoint::eval("a") == failpoint::Action::none);
  failpoint::clear_all();
  CHECK(failpoint::check("t.error").has_value());
}

TEST_CASE("failpoint specs that do not parse are refused with the reason", "[failpoint]") {
  failpoint::enable();
  for (auto spec : {"", "explode", "150%error", "x*error", "delay", "delay(abc)", "error(3)", "delay(5"}) {
    INFO(spec);
    auto r = failpoint::set("p", spec);
    REQUIRE(r.has_error());
    CHECK(r.error().code == Errc::invalid_argument);
  }
  CHECK(failpoint::configure("novalue").has_error());
  CHECK(failpoint::set("", "error").has_error());
  failpoint::clear_all();
}

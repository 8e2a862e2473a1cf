// Input-check macros for the host side of the ops: every message starts with the op's name and
// states the value received and what is allowed.
#pragma once

#include <c10/util/Exception.h>

#define RSMOOTH_CHECK(op, cond, ...) TORCH_CHECK(cond, "rsmooth_ext::", op, ": ", __VA_ARGS__)
#define RSMOOTH_CHECK_VALUE(op, cond, ...) \
  TORCH_CHECK_VALUE(cond, "rsmooth_ext::", op, ": ", __VA_ARGS__)
#define RSMOOTH_CHECK_TYPE(op, cond, ...) \
  TORCH_CHECK_TYPE(cond, "rsmooth_ext::", op, ": ", __VA_ARGS__)

// Implementation pending (see l2/coalesce.hpp).
#include "l2/coalesce.hpp"

// Implementation pending (see l2/offload.hpp).
#include "l2/offload.hpp"

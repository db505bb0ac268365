// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION);
// spawner/ is the lowest library that uses Asio.
#include <boost/asio/impl/src.hpp>

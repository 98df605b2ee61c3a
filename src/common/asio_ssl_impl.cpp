// The one translation unit that compiles Asio's SSL implementation (BOOST_ASIO_SEPARATE_COMPILATION).
// Kept out of asio_impl.cpp so that only binaries which speak TLS (those linking oc_asio_ssl, today
// through the outbound HTTP client oc_llm) pull in libssl/libcrypto.
#include <boost/asio/ssl/impl/src.hpp>

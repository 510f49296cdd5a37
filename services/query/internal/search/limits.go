package search

// MaxRequestBytes bounds an encoded QueryService request; the gRPC server
// refuses larger messages (grpc.MaxRecvMsgSize) before decoding them. The
// largest request the checks of this package accept — every value at its
// length limit in 4-byte characters, the most event names, the longest page
// token — encodes within it (TestMaxRequestBytesCoversTheContract, and
// TestLargestRequestFitsMaxRequestBytes for every row of the filter table),
// with room to spare; real requests are a few hundred bytes.
const MaxRequestBytes = 128 << 10

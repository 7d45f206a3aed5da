"""A real gRPC service and client (grpcio) for tests/grpc.rs, without generated code: the
method /echo.Echo/Say takes and returns raw bytes.

    echo.py serve PORT           answers "<x-authenticated-user>:<request>" and prints "ready"
    echo.py call TARGET SECRET   calls Say(b"hi") with `authorization: Bearer SECRET` (or none
                                 when SECRET is "-") and prints "ok <reply>" or "error <CODE>"
"""
import sys
from concurrent import futures

import grpc


def serve(port):
    def say(request, context):
        metadata = dict(context.invocation_metadata())
        user = metadata.get("x-authenticated-user", "-")
        if "authorization" in metadata:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the token reached the service")
        return user.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler(
        "echo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target, secret):
    with grpc.insecure_channel(target) as channel:
        say = channel.unary_unary("/echo.Echo/Say")
        metadata = [] if secret == "-" else [("authorization", f"Bearer {secret}")]
        try:
            reply = say(b"hi", metadata=metadata, timeout=10)
            print("ok", reply.decode())
        except grpc.RpcError as error:
            print("error", error.code().name)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        call(sys.argv[2], sys.argv[3])

"""wtb.environment.v1.EnvironmentProviderService over a
wtb_plugin.EnvironmentProvider."""

import logging
import threading

import grpc

from wtb.environment.v1 import environment_pb2, environment_pb2_grpc
from wtb.plugin.v1 import plugin_pb2

from . import _wire
from . import types as t

log = logging.getLogger("wtb_plugin")


class EnvironmentServicer(environment_pb2_grpc.EnvironmentProviderServiceServicer):
    def __init__(self, impl: t.EnvironmentProvider):
        self.impl = impl
        self._lock = threading.Lock()
        self._shut_down = False

    def shutdown(self) -> None:
        """Shuts the provider down, once: the host's Shutdown call and the
        plugin's own stop both come here."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self.impl.shutdown()

    def GetInfo(self, request, context):
        return environment_pb2.GetInfoResponse(
            info=_wire.info_to_proto(self.impl.info(), plugin_pb2.PLUGIN_KIND_ENVIRONMENT))

    def Configure(self, request, context):
        try:
            self.impl.configure(_wire.loads_object(request.config_json, "the configuration"))
        except t.ConfigError as e:
            return environment_pb2.ConfigureResponse(diagnostics=_wire.diagnostics_to_proto(e.diagnostics))
        except Exception as e:
            log.error("configure raised", exc_info=True)
            d = t.Diagnostic(summary="the plugin failed to configure itself: %s: %s" % (type(e).__name__, e))
            return environment_pb2.ConfigureResponse(diagnostics=_wire.diagnostics_to_proto([d]))
        connect = getattr(self.impl, "connect", None)
        if callable(connect):
            try:
                connect()
            except Exception as e:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        return environment_pb2.ConfigureResponse()

    def CreateEnvironment(self, request, context):
        try:
            config = _wire.loads_object(request.config_json, "the variant's environment settings")
            env = self.impl.create_environment(request.batch_id, request.variant_id, config)
        except t.ConfigError as e:
            return environment_pb2.CreateEnvironmentResponse(diagnostics=_wire.diagnostics_to_proto(e.diagnostics))
        except Exception as e:
            log.error("create_environment raised", exc_info=True, extra={"kv": {"variant": request.variant_id}})
            context.abort(grpc.StatusCode.INTERNAL, "creating the environment of %s: %s: %s" % (
                request.variant_id, type(e).__name__, e))
        return environment_pb2.CreateEnvironmentResponse(runtime_env=_wire.runtime_env_to_proto(env))

    def GetRuntimeEnv(self, request, context):
        env = self._call(context, "reading the environment of %s" % request.variant_id,
                         self.impl.runtime_env, request.variant_id)
        if env is None:
            return environment_pb2.GetRuntimeEnvResponse(found=False)
        return environment_pb2.GetRuntimeEnvResponse(runtime_env=_wire.runtime_env_to_proto(env), found=True)

    def CleanupEnvironment(self, request, context):
        self._call(context, "cleaning up the environment of %s" % request.variant_id,
                   self.impl.cleanup_environment, request.variant_id)
        return environment_pb2.CleanupEnvironmentResponse()

    def Shutdown(self, request, context):
        self._call(context, "shutting down", self.shutdown)
        return environment_pb2.ShutdownResponse()

    @staticmethod
    def _call(context, what, fn, *args):
        try:
            return fn(*args)
        except Exception as e:
            log.error("%s failed" % what, exc_info=True)
            context.abort(grpc.StatusCode.INTERNAL, "%s: %s: %s" % (what, type(e).__name__, e))

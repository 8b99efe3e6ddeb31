// Command yunikorn-scheduler: YuniKorn v1.8.0's scheduler (k8shim and core) for the loopback test cluster.
//
// It does what k8shim's own main does (github.com/apache/yunikorn-k8shim@v1.8.0 pkg/cmd/shim/main.go): enable the
// optional Kubernetes feature gates, read the yunikorn-defaults and yunikorn-configs ConfigMaps from $NAMESPACE
// through $KUBECONFIG (pkg/client/bootstrap.go, pkg/conf/schedulerconf.go), start the core and run the shim.
// One difference: the core's REST API, which upstream always serves on ":9080" (every interface, a fixed port;
// yunikorn-core@v1.8.0 pkg/webservice/webservice.go, StartWebApp), is served here on the address in
// $SPARKSTACK_YUNIKORN_REST (e.g. 127.0.0.1:0 picks a free loopback port, printed as "REST API on ..."), with the
// same routes, so the test cluster listens on 127.0.0.1 only and two clusters can run side by side.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "unsafe" // go:linkname

	"github.com/julienschmidt/httprouter"
	"go.uber.org/zap"

	"github.com/apache/yunikorn-core/pkg/entrypoint"
	corelog "github.com/apache/yunikorn-core/pkg/log"
	"github.com/apache/yunikorn-core/pkg/webservice"
	"github.com/apache/yunikorn-k8shim/pkg/client"
	"github.com/apache/yunikorn-k8shim/pkg/common/constants"
	"github.com/apache/yunikorn-k8shim/pkg/conf"
	"github.com/apache/yunikorn-k8shim/pkg/log"
	"github.com/apache/yunikorn-k8shim/pkg/plugin/predicates"
	"github.com/apache/yunikorn-k8shim/pkg/shim"
)

// newRouter is the core's own router over its REST routes (pkg/webservice/webservice.go), unexported upstream.
//
//go:linkname newRouter github.com/apache/yunikorn-core/pkg/webservice.newRouter
func newRouter() *httprouter.Router

func main() {
	log.Log(log.Shim).Info(conf.GetBuildInfoString())
	predicates.EnableOptionalKubernetesFeatureGates()

	configMaps, err := client.LoadBootstrapConfigMaps()
	if err != nil {
		log.Log(log.Shim).Fatal("reading the yunikorn-defaults and yunikorn-configs ConfigMaps failed", zap.Error(err))
	}
	if err = conf.UpdateConfigMaps(configMaps, true); err != nil {
		log.Log(log.Shim).Fatal("the scheduler refused its ConfigMaps", zap.Error(err))
	}

	log.Log(log.Shim).Info("scheduler starting", zap.String("name", constants.SchedulerName))
	// StartAllServicesWithLogger = InitializeLogger + StartAllServices (pkg/entrypoint/entrypoint.go); the same
	// services here, without the web app on :9080.
	corelog.InitializeLogger(log.RootLogger(), log.GetZapConfigs())
	serviceContext := entrypoint.StartAllServicesWithParams(false, false)
	if address := os.Getenv("SPARKSTACK_YUNIKORN_REST"); address != "" {
		serveREST(serviceContext, address)
	}

	ss := shim.NewShimScheduler(serviceContext.RMProxy, conf.GetSchedulerConf(), configMaps)
	if err := ss.Run(); err != nil {
		log.Log(log.Shim).Fatal("the shim did not start", zap.Error(err))
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	log.Log(log.Shim).Info("stopping on a signal")
	ss.Stop()
}

func serveREST(serviceContext *entrypoint.ServiceContext, address string) {
	webservice.NewWebApp(serviceContext.Scheduler.GetClusterContext(), nil) // sets the context the handlers read
	listener, err := net.Listen("tcp", address)
	if err != nil {
		log.Log(log.Shim).Fatal("cannot listen for the REST API", zap.String("address", address), zap.Error(err))
	}
	fmt.Printf("REST API on %s\n", listener.Addr())
	server := &http.Server{Handler: newRouter(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Log(log.Shim).Error("REST API stopped", zap.Error(err))
		}
	}()
}

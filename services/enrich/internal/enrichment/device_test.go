package enrichment

import (
	"testing"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

func TestDevice(t *testing.T) {
	tests := []struct {
		name, ua, deviceOS           string
		wantOS, wantVersion, wantDev string
	}{
		{"sdk style", "Shop/4.2.0 (iPhone15,2; iOS 18.1; Scale/3.00)", "", "iOS", "18.1", "iPhone15,2"},
		{"device_os wins over UA", "Shop/4.2.0 (iPhone15,2; iOS 18.0)", "iOS 18.1.1", "iOS", "18.1.1", "iPhone15,2"},
		{"ipad sdk", "Shop/4.2.0 (iPad13,4; iPadOS 17.5)", "", "iPadOS", "17.5", "iPad13,4"},
		{"alamofire", "Shop/4.2.0 (com.example.shop; build:42; iOS 17.0.0) Alamofire/5.8.0", "", "iOS", "17.0.0", ""},
		{"cfnetwork", "Shop/42 CFNetwork/1494.0.7 Darwin/23.4.0", "", "iOS", "17", ""},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15", "", "iOS", "17.0", "iPhone"},
		{"safari ipad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15", "", "iPadOS", "16.6", "iPad"},
		{"dalvik", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005)", "", "Android", "14", "Pixel 8"},
		{"chrome android", "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 Chrome/120.0 Mobile", "", "Android", "10", "SM-G973F"},
		{"okhttp with device_os", "okhttp/4.12.0", "Android 13", "Android", "13", ""},
		{"lower-case device_os", "", "android 12.1", "Android", "12.1", ""},
		{"underscored device_os", "", "iPhone OS 16_4", "iOS", "16.4", ""},
		{"device_os without version", "", "Android", "Android", "", ""},
		{"unknown device_os keeps UA", "Shop/1 (iPhone14,5; iOS 16.2)", "Tizen 7", "iOS", "16.2", "iPhone14,5"},
		{"windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "", "Windows", "NT 10.0", ""},
		{"nothing known", "curl/8.5.0", "", "", "", ""},
		{"empty", "", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &eventdoc.Source{}
			Device{}.ForBatch(&telemetryv1.EventBatch{UserAgent: tt.ua})(&telemetryv1.Event{DeviceOs: tt.deviceOS}, d)
			if d.OSName != tt.wantOS || d.OSVersion != tt.wantVersion || d.DeviceModel != tt.wantDev {
				t.Errorf("got %q %q %q, want %q %q %q", d.OSName, d.OSVersion, d.DeviceModel, tt.wantOS, tt.wantVersion, tt.wantDev)
			}
			if d.UserAgent != tt.ua {
				t.Errorf("user_agent %q", d.UserAgent)
			}
		})
	}
}

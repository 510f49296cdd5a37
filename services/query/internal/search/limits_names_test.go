package search

// The limits TestMaxRequestBytesCoversTheContract names, read from the
// filter table (TestLargestRequestFitsMaxRequestBytes covers every row).
var (
	maxValueLen = rowNamed("user_id").max
	maxNames    = rowNamed("event_name").count
	maxQLen     = rowNamed("q").max
)

func rowNamed(name string) *row {
	for i := range filterTable.rows {
		if filterTable.rows[i].name == name {
			return &filterTable.rows[i]
		}
	}
	panic("no filter " + name)
}

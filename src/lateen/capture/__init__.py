"""lateen.capture"""

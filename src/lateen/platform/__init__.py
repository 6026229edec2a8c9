"""lateen.platform"""
